// The Authentication-Results field inbound wrote on the last message of an mbox file, read
// from its tail: after a run, it tells whether the arrival checks ran on the load's mail.
import { open } from "node:fs/promises";

/** How much of the file's end is read: more than the largest message the bench sends (100 KiB by default). */
const TAIL_BYTES = 4 * 1024 * 1024;

/** The last message's Authentication-Results field (folded lines joined), or "" when it has none. */
export async function lastArrivalResults(mbox: string): Promise<string> {
  const file = await open(mbox, "r");
  try {
    const { size } = await file.stat();
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    const text = buffer.toString("latin1");
    // The last message's header: from its "From " line (a body's are escaped) to the first empty line.
    const from = text.lastIndexOf("\nFrom ");
    const start = from >= 0 ? from + 1 : length === size && text.startsWith("From ") ? 0 : -1;
    if (start < 0) return "";
    const header = text.slice(start).split(/\r?\n\r?\n/, 1)[0]!;
    const field = /^Authentication-Results:[^\n]*(?:\n[ \t][^\n]*)*/m.exec(header)?.[0] ?? "";
    return field.replace(/\r?\n[ \t]+/g, " ").replace(/\r$/, "");
  } finally {
    await file.close();
  }
}
