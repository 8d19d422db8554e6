// OpenSSH public key lines, as the users list and the web form accept them. A key ends up
// in sshd's authorized_keys files (the user's container, the jump account's with options
// in front), so a line must be exactly one key: no newline, no quote, no option prefix.
import { createHash } from "node:crypto";

const KEY_TYPES = new Set([
  "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
]);
const LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: ([^\r\n"\\]{0,200}))?$/;
/** The longest key blob accepted (a 16384-bit RSA key is about 2 KiB). */
const MAX_BLOB = 4096;

/** Why `line` is not one OpenSSH public key, or undefined when it is. */
export function sshKeyProblem(line: string): string | undefined {
  const match = LINE.exec(line.trim());
  const usage = `is not an OpenSSH public key line ("ssh-ed25519 AAAA... comment", as in ~/.ssh/id_ed25519.pub)`;
  if (!match) return usage;
  const [, type, base64] = match;
  if (!KEY_TYPES.has(type!)) return `${usage}: key type ${JSON.stringify(type!.slice(0, 40))} is not supported`;
  const blob = Buffer.from(base64!, "base64");
  // The blob starts with its own type as an SSH string: a pasted fragment or another key's type fails here.
  if (blob.length < 4 || blob.length > MAX_BLOB || blob.readUInt32BE(0) !== type!.length || blob.subarray(4, 4 + type!.length).toString("latin1") !== type) {
    return `${usage}: the key data is damaged or is not a ${type} key`;
  }
  return undefined;
}

/** The key as stored: trimmed, one space between its parts. */
export function normaliseSshKey(line: string): string {
  return line.trim().replace(/ +/g, " ");
}

/** OpenSSH's fingerprint (`ssh-keygen -lf`): SHA256: and the unpadded base64 of the blob's hash. */
export function sshKeyFingerprint(line: string): string {
  const base64 = normaliseSshKey(line).split(" ")[1] ?? "";
  return `SHA256:${createHash("sha256").update(Buffer.from(base64, "base64")).digest("base64").replace(/=+$/, "")}`;
}
