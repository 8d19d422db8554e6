// Counts messages in mbox files as they grow ("From " at the start of a line), reading
// only the bytes appended since the last look, so polling a 200 MB mbox stays cheap.
import { open, stat } from "node:fs/promises";

export class MboxCounter {
  readonly #offsets = new Map<string, { offset: number; atLineStart: boolean; count: number }>();

  /** Messages in `files` now (files that do not exist yet count 0). */
  async count(files: readonly string[]): Promise<number> {
    let total = 0;
    for (const file of files) total += await this.#countOne(file);
    return total;
  }

  async #countOne(file: string): Promise<number> {
    let state = this.#offsets.get(file);
    if (!state) {
      state = { offset: 0, atLineStart: true, count: 0 };
      this.#offsets.set(file, state);
    }
    const size = await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    if (size <= state.offset) return state.count;
    const handle = await open(file, "r");
    try {
      const buffer = Buffer.allocUnsafe(Math.min(size - state.offset, 8 << 20));
      while (state.offset < size) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - state.offset), state.offset);
        if (bytesRead === 0) break;
        // Only whole lines: stop after the last newline so a line is never split.
        const chunk = buffer.subarray(0, bytesRead);
        const end = chunk.lastIndexOf(0x0a);
        if (end === -1) break;
        const text = chunk.subarray(0, end + 1).toString("latin1");
        if (state.atLineStart && text.startsWith("From ")) state.count++;
        for (let i = text.indexOf("\nFrom "); i !== -1; i = text.indexOf("\nFrom ", i + 1)) state.count++;
        state.offset += end + 1;
        state.atLineStart = true;
      }
    } finally {
      await handle.close();
    }
    return state.count;
  }
}
