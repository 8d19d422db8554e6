// The low-level writes of an append: many buffers gathered into one writev(2),
// bodies copied from their temp files, short writes detected, the injected faults
// applied; and the small file-system chores around them.
import { promises as fs, constants } from "node:fs";
import type { AppendHandle } from "./append-handle.ts";
import type { FaultInjector } from "../faults.ts";
import { itemSize, type AppendItem } from "./append-item.ts";

/** Most bytes gathered before one write(2). */
const WRITE_CHUNK = 1 << 20;

/** A short write(2): the disk filled up under us. */
export function shortWriteError(file: string, wrote: number, wanted: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`short write to ${file}: ${wrote} of ${wanted} bytes`);
  error.code = "ESHORTWRITE";
  return error;
}

export interface WriterContext {
  readonly faults: FaultInjector | undefined;
  /** write(2) calls per file, for fault injection. */
  readonly writeAttempts: Map<string, number>;
}

/** Gathers writes into one writev(2) of up to 1 MiB; applies the injected faults. */
export class BatchWriter {
  readonly #file: string;
  readonly #handle: AppendHandle;
  readonly #context: WriterContext;
  #parts: Buffer[] = [];
  #length = 0;

  constructor(file: string, handle: AppendHandle, context: WriterContext) {
    this.#file = file;
    this.#handle = handle;
    this.#context = context;
  }

  /** Gathers `data`; resolves once it is gathered, having written out a full 1 MiB first if need be. */
  async add(data: Buffer): Promise<void> {
    if (this.#gather(data)) await this.flush();
  }

  /**
   * Gathers a message: its copies' prefixes, each followed by the body. A message held in
   * memory that fits in the gathered write is taken at once (no promise, the common case).
   */
  addItem(item: AppendItem): Promise<void> | undefined {
    const parts = item.body.parts;
    if (!parts || this.#length + itemSize(item) >= WRITE_CHUNK) return this.#addLargeItem(item);
    for (const prefix of item.prefixes) {
      this.#gather(prefix);
      for (const part of parts) this.#gather(part);
    }
    return undefined;
  }

  /** Adds `data` to the gathered write; true once it is 1 MiB or more. */
  #gather(data: Buffer): boolean {
    this.#parts.push(data);
    this.#length += data.length;
    return this.#length >= WRITE_CHUNK;
  }

  async #addLargeItem(item: AppendItem): Promise<void> {
    for (const prefix of item.prefixes) {
      await this.add(prefix);
      if (item.body.parts) for (const part of item.body.parts) await this.add(part);
      else await this.#addFile(item.body.path!, item.body.size);
    }
  }

  async #addFile(bodyPath: string, size: number): Promise<void> {
    const body = await fs.open(bodyPath, constants.O_RDONLY);
    try {
      let offset = 0;
      while (offset < size) {
        const want = Math.min(WRITE_CHUNK, size - offset);
        const buffer = Buffer.allocUnsafe(want);
        const { bytesRead } = await body.read(buffer, 0, want, offset);
        if (bytesRead === 0) throw new Error(`${bodyPath} is shorter than ${size} bytes`);
        await this.add(buffer.subarray(0, bytesRead));
        offset += bytesRead;
      }
    } finally {
      await body.close();
    }
  }

  async flush(): Promise<void> {
    if (this.#length === 0) return;
    const parts = this.#parts;
    const length = this.#length;
    this.#parts = [];
    this.#length = 0;
    const faults = this.#context.faults;
    if (faults) return this.#faultyWrite(Buffer.concat(parts, length), faults);
    // writev(2): a message body is not copied again to join it to its trace headers.
    const bytesWritten = await this.#handle.writev(parts, length);
    if (bytesWritten !== length) throw shortWriteError(this.#file, bytesWritten, length);
  }

  async #faultyWrite(data: Buffer, faults: FaultInjector): Promise<void> {
    const file = this.#file;
    const attempt = this.#context.writeAttempts.get(file) ?? 0;
    this.#context.writeAttempts.set(file, attempt + 1);
    const error = faults.beforeWrite?.(file, attempt);
    if (error) throw error;
    const short = faults.shortWrite?.(file, attempt, data.length);
    if (short !== undefined && short < data.length) {
      await this.#handle.write(data, 0, short);
      throw shortWriteError(file, short, data.length);
    }
    if (faults.crashAt && data.length > 1) {
      // Leave a real partial tail behind for crash tests.
      const half = data.length >> 1;
      await this.#handle.write(data, 0, half);
      faults.crashAt("mid-write", file);
      await this.#handle.write(data, half, data.length - half);
      return;
    }
    const bytesWritten = await this.#handle.write(data, 0, data.length);
    if (bytesWritten !== data.length) throw shortWriteError(file, bytesWritten, data.length);
  }
}

const NO_SEPARATOR = Buffer.alloc(0);
const BLANK_LINE = Buffer.from("\n");
const NEW_LINE_AND_BLANK = Buffer.from("\n\n");

/**
 * What to write before our first From_ line so it starts a message: nothing after a blank
 * line (our own messages), one LF after a message that ends with a single LF (Python
 * writes its separator before each message instead), two after a torn last line (a
 * writer that died; otherwise our message would be glued onto its last line).
 */
export function separatorAfter(handle: AppendHandle, size: number): Buffer {
  if (size === 0) return NO_SEPARATOR;
  const tail = Buffer.alloc(2);
  const bytesRead = handle.read(tail, 0, Math.min(2, size), size - Math.min(2, size));
  const last = tail.subarray(0, bytesRead);
  if (last.length === 2 && last[0] === 0x0a && last[1] === 0x0a) return NO_SEPARATOR;
  if (last.length === 1 && last[0] === 0x0a) return NO_SEPARATOR;
  return last[last.length - 1] === 0x0a ? BLANK_LINE : NEW_LINE_AND_BLANK;
}
