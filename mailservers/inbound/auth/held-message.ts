// The message as received, held while it is judged: the checks read it once, and the store
// reads it again only if it is to be kept. Small messages (most mail) stay in memory; larger
// ones go to a temp file under the mail root that is unlinked as soon as it is opened, so a
// crash leaves nothing behind. Bytes are kept exactly as they came: DKIM canonicalisation and
// the store's byte-exact rules both see what the client sent.
import { promises as fs, constants } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";

/** Messages up to this size are held in memory (as the store's own body buffer, store/body-buffer.ts). */
export const HELD_IN_MEMORY = 128 * 1024;

export interface HeldMessage {
  readonly size: number;
  /** A fresh stream of the bytes, from the start; any number of times until release(). */
  stream(): Readable;
  /** Frees the memory or closes the temp file. */
  release(): Promise<void>;
}

/**
 * Reads `message` to its end into memory or an unlinked file at `tempPath`. Rejects with the
 * stream's own error (a limit the front end enforces, the client gone).
 */
export async function holdMessage(message: Readable, tempPath: string, limit = HELD_IN_MEMORY): Promise<HeldMessage> {
  const chunks: Buffer[] = [];
  let size = 0;
  let file: fs.FileHandle | undefined;
  try {
    for await (const chunk of message as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (file) {
        await file.write(chunk);
        continue;
      }
      chunks.push(chunk);
      if (size > limit) {
        await fs.mkdir(path.dirname(tempPath), { recursive: true, mode: 0o700 });
        file = await fs.open(tempPath, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
        await fs.unlink(tempPath);
        await file.writev(chunks);
        chunks.length = 0;
      }
    }
  } catch (error) {
    await file?.close();
    // Failed here (the temp file): drain the rest so the SMTP side can reply.
    if (!message.readableEnded && !message.destroyed) message.resume();
    throw message.errored ?? error;
  }
  if (!file) return { size, stream: () => Readable.from(chunks, { objectMode: false }), release: async () => {} };
  const handle = file;
  return {
    size,
    stream: () => handle.createReadStream({ start: 0, autoClose: false }),
    release: () => handle.close(),
  };
}
