// The mark a forward leaves on the message, and the check that stops a loop: each forward
// adds `X-SEMail-Forwarded: <mailbox address>`; a message that comes back to a forwarding
// mailbox already marked with its address has been round once and is refused (550 5.4.6),
// as is one forwarded too many times by us in all (mailboxes forwarding in a ring).
import type { Readable } from "node:stream";
import { permFail, type SmtpError } from "../../core/types.ts";

export const FORWARD_MARKER = "X-SEMail-Forwarded";
/** Forwards by us one message may have been through, whatever the mailboxes. */
export const MAX_FORWARD_HOPS = 8;
/** Header bytes read for the check; a marker past them is not looked for. */
const MAX_HEADER_BYTES = 256 * 1024;

/** The header line a forward for `mailbox` adds. */
export function forwardMarker(mailbox: string): string {
  return `${FORWARD_MARKER}: ${mailbox}\r\n`;
}

/** The mailboxes the message's markers name, in order, read from the start of `message` (which is then left). */
export async function forwardMarks(message: Readable): Promise<string[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of message as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    const seen = Buffer.concat(chunks);
    if (seen.includes("\r\n\r\n") || seen.includes("\n\n") || size >= MAX_HEADER_BYTES) break;
  }
  message.destroy();
  const text = Buffer.concat(chunks).toString("latin1");
  const header = text.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, " ");
  const marks: string[] = [];
  const pattern = new RegExp(`^${FORWARD_MARKER}[ \\t]*:[ \\t]*(.*)$`, "gim");
  for (const match of header.matchAll(pattern)) marks.push(match[1]!.trim().toLowerCase());
  return marks;
}

/** The refusal for a message marked `marks` arriving for `mailbox`'s forward, or undefined to go on. */
export function loopRefusal(marks: readonly string[], mailbox: string): SmtpError | undefined {
  if (marks.includes(mailbox.toLowerCase()) || marks.length >= MAX_FORWARD_HOPS)
    return permFail(550, "5.4.6", `Routing loop detected: this message was already forwarded for <${mailbox}>`);
  return undefined;
}
