// Folder names (store/mbox/folder-name.ts): the one place an envelope address becomes a path.
// Properties:
// - a name is one safe path component: no '/', no NUL, not starting with '.', no "..", not
//   ending in ".lock", at most MAX_FOLDER_NAME bytes;
// - an unshortened name reads back (parseFolderName) as its pair, ASCII case folded;
// - two pairs that differ in any byte beyond ASCII case never share a name, shortened or not.
import assert from "node:assert/strict";
import { folderName, MAX_FOLDER_NAME, parseFolderName } from "../../mailservers/inbound/store/mbox/folder-name.ts";
import { Input } from "../input.ts";

/** An address as the store may be handed it: bytes, a UTF-8 string, or a string with lone surrogates. */
function address(input: Input): string | Uint8Array {
  const kind = input.int(2);
  const bytes = input.chunk(input.bool() ? 40 : 255);
  if (kind === 0) return Uint8Array.from(bytes);
  if (kind === 1) return bytes.toString("utf8");
  // UTF-16 code units, lone surrogates included.
  const units: number[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) units.push(bytes.readUInt16LE(i));
  return String.fromCharCode(...units);
}

/** The exact bytes of an address, ASCII case folded: WTF-8 for a string with lone surrogates. */
function foldedBytes(a: string | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof a !== "string") bytes = Buffer.from(a);
  else if (a.isWellFormed()) bytes = Buffer.from(a, "utf8");
  else {
    const parts: Buffer[] = [];
    for (const char of a) {
      const c = char.codePointAt(0)!;
      parts.push(
        c >= 0xd800 && c <= 0xdfff
          ? Buffer.from([0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)])
          : Buffer.from(char, "utf8"),
      );
    }
    bytes = Buffer.concat(parts);
  }
  return Buffer.from(bytes.map((b) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b)));
}

function checkName(name: string): void {
  assert.ok(Buffer.byteLength(name) <= MAX_FOLDER_NAME, "at most MAX_FOLDER_NAME bytes");
  assert.ok(!/[/\x00]/.test(name), "no '/' and no NUL");
  assert.ok(!name.startsWith("."), "never starts with '.'");
  assert.ok(!name.includes(".."), "never holds '..'");
  assert.ok(!name.toLowerCase().endsWith(".lock"), "never looks like a dotlock");
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const first = [address(input), address(input)] as const;
  const second = [input.bool() ? first[0] : address(input), address(input)] as const;
  const pairs = [first, second];
  const names = pairs.map(([recipient, sender]) => folderName(recipient, sender));
  for (const [i, name] of names.entries()) {
    checkName(name);
    const [recipient, sender] = pairs[i]!;
    const back = parseFolderName(name);
    if (name.includes("~")) continue;
    assert.ok(back, `an unshortened name reads back: ${name}`);
    // parseFolderName reads the bytes as UTF-8, so an address that is not UTF-8 reads back as that decoding.
    assert.equal(back.recipient, foldedBytes(recipient).toString("utf8"), "the recipient reads back");
    assert.equal(back.sender, foldedBytes(sender).toString("utf8"), "the sender reads back");
  }
  const same = (a: string | Uint8Array, b: string | Uint8Array) => foldedBytes(a).equals(foldedBytes(b));
  const samePair = same(first[0], second[0]) && same(first[1], second[1]);
  assert.equal(names[0] === names[1], samePair, `pairs and names: ${JSON.stringify(names)}`);
}
