// OpenSSH public key lines, as the users list and the web form accept them. A key ends up
// in sshd's authorized_keys files (the user's container, the jump account's with options
// in front), so a line must be exactly one key: no newline, no quote, no option prefix.
import { createHash } from "node:crypto";

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);
const LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: ([^\r\n"\\]{0,200}))?$/;
/** The longest key blob accepted (a 16384-bit RSA key is about 2 KiB). */
const MAX_BLOB = 4096;
/** The smallest RSA modulus accepted: 1024-bit RSA is within reach of a well-funded attacker, and 2048 is NIST's floor. */
export const MIN_RSA_BITS = 2048;
/** A key type name as OpenSSH spells them; anything else is not quoted back (it may be pasted secret text). */
const TYPE_NAME = /^[a-z][a-z0-9@.-]{0,39}$/;
/** What only a private key holds: PEM and OpenSSH armour, PuTTY's file, an OpenSSH key's body ("openssh-key-v1" in base64). */
const PRIVATE_KEY = /PRIVATE KEY|PuTTY-User-Key-File|Private-Lines:|b3BlbnNzaC1rZXktdjE/;
const NEW_KEY = "make a new key with `ssh-keygen -t ed25519` and add the line of its .pub file";

/** Why `line` is not one OpenSSH public key, or undefined when it is. */
export function sshKeyProblem(line: string): string | undefined {
  // Checked first, and answered without quoting any of it: the text is a secret.
  if (PRIVATE_KEY.test(line))
    return "is a private key, the half that must never leave your computer: paste the line of its .pub file instead, and consider making a new key pair (`ssh-keygen -t ed25519`)";
  const match = LINE.exec(line.trim());
  const usage = `is not an OpenSSH public key line ("ssh-ed25519 AAAA... comment", as in ~/.ssh/id_ed25519.pub)`;
  if (!match) return usage;
  const [, type, base64] = match;
  if (type === "ssh-dss")
    return `is a DSA key (ssh-dss): DSA keys are 1024 bits, too weak, and OpenSSH has refused them by default since 7.0; ${NEW_KEY}`;
  if (!KEY_TYPES.has(type!))
    return `${usage}: ${TYPE_NAME.test(type!) ? `key type ${JSON.stringify(type)}` : "that key type"} is not supported`;
  const blob = Buffer.from(base64!, "base64");
  // The blob starts with its own type as an SSH string: a pasted fragment or another key's type fails here.
  const damaged = `${usage}: the key data is damaged or is not a ${type} key`;
  if (
    // Only the blob's own base64, as ssh-keygen writes it: sshd refuses missing padding and stray
    // bits, which Buffer.from ignores (found by fuzz/targets/ssh-key.ts).
    blob.toString("base64") !== base64 ||
    blob.length < 4 ||
    blob.length > MAX_BLOB ||
    blob.readUInt32BE(0) !== type!.length ||
    blob.subarray(4, 4 + type!.length).toString("latin1") !== type
  ) {
    return damaged;
  }
  if (type === "ssh-rsa") {
    const bits = rsaModulusBits(blob);
    if (bits === undefined) return damaged;
    if (bits < MIN_RSA_BITS)
      return `is a ${bits}-bit RSA key: RSA keys need at least ${MIN_RSA_BITS} bits; ${NEW_KEY} (or \`ssh-keygen -t rsa -b 3072\`)`;
  }
  return undefined;
}

/**
 * The size of an ssh-rsa blob's modulus in bits (RFC 4253 6.6: string "ssh-rsa", mpint e,
 * mpint n, nothing after), or undefined when the blob is not exactly that.
 */
function rsaModulusBits(blob: Buffer): number | undefined {
  let at = 0;
  const field = (): Buffer | undefined => {
    if (at + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(at);
    if (at + 4 + length > blob.length) return undefined;
    const value = blob.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    return value;
  };
  const [, exponent, modulus] = [field(), field(), field()];
  if (!exponent || !modulus || at !== blob.length) return undefined;
  // An mpint is big-endian two's complement: a positive one may carry leading zero bytes.
  const start = modulus.findIndex((byte) => byte !== 0);
  if (start < 0 || (modulus[0]! & 0x80) !== 0) return undefined;
  return (modulus.length - start - 1) * 8 + (32 - Math.clz32(modulus[start]!));
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
