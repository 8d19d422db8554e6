// The name of the mbox folder that collects one (recipient, sender) pair's mail.
// Envelope addresses come from the network: this is the one place they become a path.
// A name is made from an address's exact bytes, never from a lossy decoding: two pairs
// that differ in any byte (beyond ASCII case) never share a folder.
import { createHash } from "node:crypto";

/** Longest folder name in bytes (a name, its ".lock" and Dovecot's suffixes fit in 255). */
export const MAX_FOLDER_NAME = 200;

/**
 * The folder of mail judged unwanted (DMARC quarantine, spam): <root>/mail/Junk, the mailbox
 * Dovecot marks \Junk (services/imap/config.ts). No pair folder has this name: theirs hold a `,`.
 */
export const JUNK_FOLDER = "Junk";

/** The sender part of the folder name for the null reverse path <> (bounces). */
export const NULL_SENDER = "=null-sender";

// Bytes kept as they are (after ASCII lowercasing). Everything else becomes =xx.
const SAFE = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyz0123456789.-_+@") SAFE[c.charCodeAt(0)] = 1;
const DOT = 0x2e;

/**
 * Folder name for mail from `sender` to `recipient`: `<recipient>,<sender>`, e.g.
 * `souleymane@sow.semail.email,alice@example.org`.
 *
 * - An address is its bytes: a Uint8Array as given, a string as UTF-8. The front end
 *   refuses invalid UTF-8 (553 5.1.7 / 5.1.3), so an address string holds exactly the bytes
 *   sent. A string with a lone surrogate has no UTF-8; it is written as WTF-8 (the
 *   surrogate's own three bytes, never valid UTF-8), since Buffer.from would turn every
 *   lone surrogate into U+FFFD and give different strings one name.
 * - Each address is lowercased in ASCII, local part included: addresses that differ only
 *   in case share a folder (as nearly every mail system treats them), so the mapping is
 *   one-to-one on case-folded pairs.
 * - Every byte of the address outside `a-z 0-9 . - _ + @` becomes `=xx` (lowercase
 *   hex): `/` is `=2f`, `,` is `=2c`, `=` is `=3d`, NUL is `=00`, `é` is `=c3=a9`. A `.`
 *   is also escaped (`=2e`) at the start of a part, right after another `.`, and in a
 *   trailing `.lock`, so a name never starts with a dot, never holds `..`, and never looks
 *   like another folder's dotlock. `,` never occurs inside a part, so the name splits back
 *   into exactly one pair: `parseFolderName` reverses it.
 * - The null sender `<>` is `=null-sender` (not an escape the encoder can produce).
 * - A name longer than 200 bytes keeps its first 175 bytes and ends in `~` plus 24 hex of
 *   the SHA-256 of the full name; `~` never occurs in an unshortened name.
 */
export function folderName(recipient: string | Uint8Array, sender: string | Uint8Array): string {
  const name = `${encodePart(exactBytes(recipient))},${sender.length === 0 ? NULL_SENDER : encodePart(exactBytes(sender))}`;
  if (name.length <= MAX_FOLDER_NAME) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 24);
  return `${name.slice(0, MAX_FOLDER_NAME - 25)}~${hash}`;
}

/** The (recipient, sender) pair of an unshortened folder name (read as UTF-8), or undefined. */
export function parseFolderName(name: string): { recipient: string; sender: string } | undefined {
  const parts = name.split(",");
  if (parts.length !== 2 || name.includes("~")) return undefined;
  const recipient = decodePart(parts[0]!);
  const sender = parts[1] === NULL_SENDER ? "" : decodePart(parts[1]!);
  if (recipient === undefined || sender === undefined) return undefined;
  return { recipient, sender };
}

/** UTF-8, or WTF-8 for a string with lone surrogates, so distinct strings give distinct bytes. */
function exactBytes(address: string | Uint8Array): Uint8Array {
  if (typeof address !== "string") return address;
  if (address.isWellFormed()) return Buffer.from(address, "utf8");
  const parts: Buffer[] = [];
  for (const char of address) {
    const c = char.codePointAt(0)!;
    // The string iterator yields a lone surrogate alone; UTF-8's three-byte form of it.
    parts.push(
      c >= 0xd800 && c <= 0xdfff
        ? Buffer.from([0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)])
        : Buffer.from(char, "utf8"),
    );
  }
  return Buffer.concat(parts);
}

function encodePart(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    let b = bytes[i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    const dotNeedsEscape = b === DOT && (i === 0 || bytes[i - 1] === DOT || isTrailingLock(bytes, i));
    out += SAFE[b] && !dotNeedsEscape ? String.fromCharCode(b) : `=${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** `.lock` (any case) ends the address at `i`. */
function isTrailingLock(bytes: Uint8Array, i: number): boolean {
  return (
    bytes.length - i === 5 &&
    Buffer.from(bytes.subarray(i + 1))
      .toString("latin1")
      .toLowerCase() === "lock"
  );
}

function decodePart(part: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    if (c === 0x3d) {
      const hex = part.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80 && SAFE[c]) bytes.push(c);
    else return undefined;
  }
  return Buffer.from(bytes).toString("utf8");
}
