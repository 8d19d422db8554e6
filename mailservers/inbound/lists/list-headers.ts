// The header fields a list adds to each copy (RFC 2919 List-Id, RFC 2369 List-Post and
// List-Unsubscribe, and Precedence: list so vacation responders stay quiet), put before the
// message's own header as trace fields are.
import { Transform, type TransformCallback } from "node:stream";
import type { MailingList } from "../../../config/mailing-lists.ts";

/** Only what a phrase or list-id label may hold: directory values never add a line or a field. */
function label(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

function phrase(value: string): string {
  return value.replace(/[\s\x00-\x1f\x7f"\\]+/g, " ").trim();
}

/** The fields, each ending CRLF. */
export function listHeaders(list: MailingList): string {
  const at = list.address.lastIndexOf("@");
  const id = `${label(list.address.slice(0, at)) || "list"}.${list.address.slice(at + 1)}`;
  const name = phrase(list.name);
  const owner = list.owners.find((o) => o.mail !== undefined)?.mail;
  const fields = [
    `List-Id: ${name ? `"${name}" ` : ""}<${id}>`,
    `List-Post: <mailto:${list.address}>`,
    ...(owner
      ? [`List-Unsubscribe: <mailto:${owner}?subject=${encodeURIComponent(`unsubscribe ${list.address}`)}>`]
      : []),
    "Precedence: list",
  ];
  return fields.map((f) => `${f}\r\n`).join("");
}

/** `headers` then the message, unchanged. */
export class PrependHeaders extends Transform {
  #pending: Buffer | undefined;

  constructor(headers: string) {
    super();
    this.#pending = Buffer.from(headers, "utf8");
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#pending) {
      this.push(this.#pending);
      this.#pending = undefined;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#pending) this.push(this.#pending);
    callback();
  }
}
