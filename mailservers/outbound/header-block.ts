// A message's header block, read off its stream before anything is kept: the bytes up to
// the first empty line, and no further. The body stays in the stream, unread; what was read
// is put back (unshift), so the stream handed on is the whole message. Lines end in CRLF
// here (the front end's message guard turns every bare CR or LF into one).
import { Readable } from "node:stream";
import { permFail } from "../core/types.ts";

const CR = 0x0d;
const LF = 0x0a;

export interface HeaderBlock {
  /** The header fields, each line with its CRLF; without the empty line that ends them. */
  readonly header: Buffer;
  /** The whole message again: the same stream with what was read put back, or (when it had ended) a new one. */
  readonly message: Readable;
}

/**
 * Reads `message` up to the end of its header block (an empty line, or the end of the
 * message). More than `maxBytes` of header is refused (552 5.3.4); a stream error rejects
 * with that error, as reading the message would.
 */
export function readHeaderBlock(message: Readable, maxBytes: number): Promise<HeaderBlock> {
  const seen: Buffer[] = [];
  let read = 0;
  // Scanner state: at the start of a line; that line began with CR.
  let lineStart = true;
  let blankCR = false;
  /** The offset of the empty line's CR in the message, once found. */
  const endIn = (chunk: Buffer): number => {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (blankCR && byte === LF) return read + i - 1;
      blankCR = lineStart && byte === CR;
      lineStart = byte === LF;
    }
    return -1;
  };
  return new Promise((resolve, reject) => {
    // Pulled with read() on "readable", not "data" and pause(): once the "readable" listener
    // is gone the stream flows again for whoever listens next (a pause() would hold it).
    const settle = (outcome: () => void) => {
      message.off("readable", onReadable).off("end", onEnd).off("error", onError).off("close", onClose);
      outcome();
    };
    const onReadable = () => {
      let data: Buffer | string | null;
      while ((data = message.read() as Buffer | string | null) !== null) {
        const chunk = typeof data === "string" ? Buffer.from(data) : data;
        seen.push(chunk);
        const end = endIn(chunk);
        read += chunk.length;
        if (end !== -1) {
          return settle(() => {
            // Back into the stream, last first: its next reader gets the whole message, nothing copied.
            for (let i = seen.length - 1; i >= 0; i--) message.unshift(seen[i]);
            resolve({ header: (seen.length === 1 ? seen[0]! : Buffer.concat(seen)).subarray(0, end), message });
          });
        }
        if (read > maxBytes) {
          return settle(() =>
            reject(
              permFail(
                552,
                "5.3.4",
                `Message header too big: at most ${maxBytes} bytes before the empty line that ends it`,
              ),
            ),
          );
        }
      }
    };
    // All header (no empty line): an ended stream takes nothing back, so a new one replays it.
    const onEnd = () =>
      settle(() => resolve({ header: Buffer.concat(seen), message: Readable.from(seen, { objectMode: false }) }));
    const onError = (err: Error) => settle(() => reject(err));
    const onClose = () => settle(() => reject(new Error("the message stream closed before its end")));
    message.on("readable", onReadable).once("end", onEnd).once("error", onError).once("close", onClose);
  });
}
