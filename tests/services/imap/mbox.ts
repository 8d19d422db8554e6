// An mbox reader for files both SEMail and Dovecot write, as Dovecot and mutt read them:
// a message that carries Content-Length (Dovecot writes it on APPEND and COPY, and does
// not quote `From ` lines in those bodies) ends where it says, if a `From ` line or the end
// of the file is there; any other message ends at the next `From ` line (SEMail's mboxo
// quotes every `From ` line in a body). Python's mailbox.mbox ignores Content-Length and
// would cut an appended message in two at such a line.
import { readFile } from "node:fs/promises";

export interface MboxMessage {
  readonly fromLine: string;
  readonly headers: string;
  /** The body as stored (quoting not undone), without the blank line that separates messages. */
  readonly body: string;
  readonly contentLength: number | undefined;
  header(name: string): string | undefined;
}

function headerValue(headers: string, name: string): string | undefined {
  const unfolded = headers.replace(/\n[ \t]+/g, " ");
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(unfolded);
  return match?.[1]?.trim();
}

/** Every message of `text` (latin1, so byte offsets are character offsets); throws on what is not an mbox. */
export function parseMbox(text: string): MboxMessage[] {
  const messages: MboxMessage[] = [];
  if (text.length === 0) return messages;
  if (!text.startsWith("From ")) throw new Error(`not an mbox: starts with ${JSON.stringify(text.slice(0, 40))}`);
  let at = 0;
  while (at < text.length) {
    const lineEnd = text.indexOf("\n", at);
    if (lineEnd < 0) throw new Error(`a From line without its message at ${at}`);
    const fromLine = text.slice(at, lineEnd);
    const blank = text.indexOf("\n\n", lineEnd);
    const headersEnd = blank < 0 ? text.length : blank + 1;
    const headers = text.slice(lineEnd + 1, headersEnd);
    const bodyStart = Math.min(text.length, headersEnd + 1);
    const declared = headerValue(headers, "Content-Length");
    const contentLength = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
    let end: number | undefined;
    let next: number | undefined;
    if (contentLength !== undefined) {
      const after = bodyStart + contentLength;
      const rest = text.slice(after, after + 6);
      if (after === text.length || rest === "\n" || (after + 1 === text.length && rest === "\n"))
        [end, next] = [after, text.length];
      else if (rest.startsWith("\nFrom ")) [end, next] = [after, after + 1];
    }
    if (end === undefined || next === undefined) {
      const following = text.indexOf("\nFrom ", bodyStart - 1);
      next = following < 0 ? text.length : following + 1;
      // The separator: one empty line before the next From line (or the end).
      end = text.slice(0, next).endsWith("\n\n") ? next - 1 : next;
    }
    let body = text.slice(bodyStart, end);
    if (body.endsWith("\n\n") && contentLength === undefined) body = body.slice(0, -1);
    messages.push({ fromLine, headers, body, contentLength, header: (name) => headerValue(headers, name) });
    at = next;
  }
  return messages;
}

export async function readMboxFile(path: string): Promise<MboxMessage[]> {
  return parseMbox((await readFile(path)).toString("latin1"));
}

/** The Message-ID without its angle brackets. */
export function messageId(message: MboxMessage): string | undefined {
  return /<([^>]+)>/.exec(message.header("Message-ID") ?? "")?.[1];
}

/** A body as SEMail's mboxo writer stores it: every `From ` line gets a `>`, `>From ` lines none. */
export function mboxoQuoted(body: string): string {
  return body.replace(/^From /gm, ">From ");
}
