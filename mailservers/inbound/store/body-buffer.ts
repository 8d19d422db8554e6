// Where the transformed message waits while it is appended to each target: in memory
// when small (most mail; saves creating and deleting a file per message), else in one
// temp file under <mailRoot>/.tmp/, written once and read back for each target.
import { promises as fs, constants } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { MboxoBody } from "./mbox/mboxo.ts";

/** Bodies up to this size stay in memory (100 sessions x 128 KiB = 12.8 MB at most). */
export const IN_MEMORY_LIMIT = 128 * 1024;

/** The buffered body: `parts` (the transform's chunks, never joined) when in memory, else `path`. */
export interface BufferedBody {
  readonly size: number;
  readonly parts?: readonly Buffer[];
  readonly path?: string;
}

/** Streams `message` through `body` into memory or `tempPath`; rejects with the stream's error. */
export async function bufferBody(
  message: Readable,
  body: MboxoBody,
  tempPath: string,
  limit = IN_MEMORY_LIMIT,
): Promise<BufferedBody> {
  const held: Buffer[] = [];
  let size = 0;
  let file: fs.FileHandle | undefined;
  try {
    await pipeline(message, body, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        size += chunk.length;
        if (file) {
          await file.write(chunk);
          continue;
        }
        held.push(chunk);
        if (size > limit) {
          file = await fs.open(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
          await file.writev(held);
          held.length = 0;
        }
      }
    });
  } finally {
    await file?.close();
  }
  return file ? { size, path: tempPath } : { size, parts: held };
}
