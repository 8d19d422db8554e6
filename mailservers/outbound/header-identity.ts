// Who a message says it is from: its From: and Sender: headers must name only the
// authenticated user's own live addresses, the rule MAIL FROM follows (core/own-address.ts).
// The readers show these fields, so the check reads them as a lenient reader might:
// - every address nodemailer's parser finds must be the user's (several in one From: too);
// - every address-like text in the field, display names and comments included, after
//   decoding RFC 2047 encoded words, must be theirs as well: a reader that parses
//   `<alice@x><ceo@y>` or `"ceo@y" <alice@x>` otherwise than we do then still shows
//   only the user;
// - group syntax (`team:;`), a field with no address, and a second From: or Sender: field
//   are refused: each lets readers show a name that is no address, or disagree.
// A message without From: is not refused: the backend adds the envelope sender's (RFC 5322
// requires one, and MAIL FROM has been checked to be the user's own).
import addressparser from "nodemailer/lib/addressparser";
import type { UsersList } from "../../config/users-list.ts";
import { ownAddressProblem } from "../core/own-address.ts";
import { permFail } from "../core/types.ts";

const IDENTITY_FIELD = /^(from|sender)[ \t]*:(.*)$/is;
/** Text a reader could show as an address: local@domain.tld, without the characters that delimit one. */
const ADDRESS_LIKE = /[^\s<>()[\]",;:'@]+@[^\s<>()[\]",;:'@]*\.[^\s<>()[\]",;:'@]+/g;
/** Look-alikes of "@" a display name could use to show an address. */
const AT_LOOKALIKES = /[\uFF20\uFE6B]/g;
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bq])\?([^?\s]*)\?=/gi;

interface IdentityField {
  readonly name: "From" | "Sender";
  value: string;
}

/** The From: and Sender: fields of a header block, unfolded (RFC 5322 2.2.3). */
function identityFields(header: Buffer): IdentityField[] {
  const fields: IdentityField[] = [];
  let current: IdentityField | undefined;
  let first = true;
  for (const line of header.toString("utf8").split("\r\n")) {
    // A folded line continues its field; the first line continues nothing, and some readers take it as a field.
    const folded = /^[ \t]/.test(line) && !first;
    first = false;
    if (folded) {
      if (current) current.value += line;
      continue;
    }
    const match = IDENTITY_FIELD.exec(line.trimStart());
    current = match ? { name: match[1]!.toLowerCase() === "from" ? "From" : "Sender", value: match[2]! } : undefined;
    if (current) fields.push(current);
  }
  return fields;
}

/** RFC 2047 encoded words decoded, as a reader shows them; an unknown charset is left as written. */
export function decodeEncodedWords(text: string): string {
  return text.replace(ENCODED_WORD, (word, charset: string, encoding: string, encoded: string) => {
    const bytes =
      encoding.toLowerCase() === "b"
        ? Buffer.from(encoded, "base64")
        : Buffer.from(
            encoded
              .replace(/_/g, " ")
              .replace(/=([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            "latin1",
          );
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      return word;
    }
  });
}

/**
 * Refuses (throws SmtpError) a header whose From: or Sender: names anyone but `user`:
 * 550 5.7.1 naming the address, or 550 5.6.0 for a field that names no one clearly.
 * Returns whether the header has a From: field (the backend adds one when not).
 */
export function checkHeaderIdentity(header: Buffer, user: string, users: UsersList): { readonly hasFrom: boolean } {
  const fields = identityFields(header);
  const own = users.byOwner(user);
  const hint = own && own.pendingProof === undefined ? `: use your address, ${own.address}` : "";
  for (const name of ["From", "Sender"] as const) {
    const count = fields.filter((f) => f.name === name).length;
    if (count > 1)
      throw permFail(
        550,
        "5.6.0",
        `The message has ${count} ${name}: headers, which readers show differently; keep one`,
      );
  }
  for (const { name, value } of fields) {
    const entries = addressparser(value);
    const group = entries.find((e) => e.group !== undefined);
    if (group)
      throw permFail(550, "5.6.0", `${name}: uses group syntax (${group.name}:...;), which names no sender${hint}`);
    if (entries.length === 0 || entries.some((e) => !e.address))
      throw permFail(550, "5.6.0", `${name}: header names no address${hint}`);
    for (const { address } of entries) {
      const problem = ownAddressProblem(address!, user, users);
      if (problem) throw permFail(550, "5.7.1", `${name}: address <${address}> ${problem}`);
    }
    const shown = decodeEncodedWords(value).replace(/\\/g, "").replace(AT_LOOKALIKES, "@");
    for (const [text] of shown.matchAll(ADDRESS_LIKE)) {
      const problem = ownAddressProblem(text, user, users);
      if (problem) throw permFail(550, "5.7.1", `${name}: header shows ${text}, which ${problem}`);
    }
  }
  return { hasFrom: fields.some((f) => f.name === "From") };
}
