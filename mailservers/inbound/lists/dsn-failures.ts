// The recipients a delivery status notification (RFC 3464, and RFC 6533's global form) says
// failed for good: in its message/delivery-status part, each per-recipient block with
// `Action: failed`, its Final-Recipient (or Original-Recipient), Status and Diagnostic-Code.
// Only the first MAX_BYTES are read (the report comes before the returned message). A message
// with no such report is no DSN (undefined), for the caller to decide about; a report with no
// failure (a delay notice) gives an empty list.
import type { Readable } from "node:stream";

/** Bytes of a bounce read to find its report: far above any DSN's text and report parts. */
const MAX_BYTES = 256 * 1024;

export interface DsnFailure {
  /** The address that failed, ASCII-lowercased. */
  readonly recipient: string;
  readonly status: string;
  /** The remote server's reply (Diagnostic-Code), or the Status when there is none. */
  readonly reply: string;
}

/** Header fields of a block of lines, names lowercased, folded lines unfolded; the first of each name. */
function fields(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!out.has(name)) out.set(name, line.slice(colon + 1).trim());
  }
  return out;
}

/** The `boundary` parameter of a Content-Type value. */
function boundaryOf(contentType: string): string | undefined {
  return /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i
    .exec(contentType)
    ?.slice(1)
    .find((b) => b !== undefined);
}

/** `rfc822; Carol@Remote.example` → `carol@remote.example`. */
function addressOf(value: string | undefined): string | undefined {
  const address = value
    ?.replace(/^[^;]*;/, "")
    .trim()
    .replace(/^<|>$/g, "");
  return address && /^[^\s@]+@[^\s@]+$/.test(address) ? address.replace(/[A-Z]/g, (c) => c.toLowerCase()) : undefined;
}

/** The failed recipients of the report in `text` (a whole message, or its start); undefined when it has none. */
export function dsnFailuresOf(text: string): DsnFailure[] | undefined {
  const [head = "", ...rest] = text.split(/\r?\n\r?\n/);
  const boundary = boundaryOf(fields(head).get("content-type") ?? "");
  if (boundary === undefined) return undefined;
  const body = rest.join("\r\n\r\n");
  const parts = body.split(new RegExp(`^--${boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:--)?[ \\t]*\\r?$`, "m"));
  for (const part of parts) {
    const [partHead = "", ...partBody] = part.replace(/^\r?\n/, "").split(/\r?\n\r?\n/);
    const type = (fields(partHead).get("content-type") ?? "").toLowerCase();
    if (!/^message\/(global-)?delivery-status\b/.test(type)) continue;
    // The first block is about the message; each one after it about one recipient.
    return partBody.slice(1).flatMap((block) => {
      const f = fields(block);
      const recipient = addressOf(f.get("final-recipient")) ?? addressOf(f.get("original-recipient"));
      if (recipient === undefined || f.get("action")?.toLowerCase() !== "failed") return [];
      const status = f.get("status") ?? "5.0.0";
      const reply = (f.get("diagnostic-code") ?? status).replace(/^[^;]*;\s*/, "").slice(0, 500);
      return [{ recipient, status, reply }];
    });
  }
  return undefined;
}

/** Reads the start of `message` (the rest is left unread) and returns its failed recipients; undefined when it is no DSN. */
export async function dsnFailures(message: Readable): Promise<DsnFailure[] | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of message as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_BYTES) break;
  }
  message.destroy();
  return dsnFailuresOf(Buffer.concat(chunks).subarray(0, MAX_BYTES).toString("latin1"));
}
