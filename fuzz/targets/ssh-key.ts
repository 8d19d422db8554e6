// SSH public key lines (config/ssh-key.ts), which end up in sshd's authorized_keys. Properties of
// a line the parser accepts:
// - it is one key: the stored form (normaliseSshKey) holds no line break and no quote;
// - it re-renders to the same key: the stored form's base64 is the blob's own (canonical) base64,
//   so the key sshd reads is the key we checked, fingerprinted and compared; the blob names the
//   line's key type; the stored form is accepted again, unchanged, with the same fingerprint.
import assert from "node:assert/strict";
import { normaliseSshKey, sshKeyFingerprint, sshKeyProblem } from "../../config/ssh-key.ts";
import { Input } from "../input.ts";

const TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "sk-ssh-ed25519@openssh.com",
  "ssh-dss",
  "ecdsa-sha2-nistp384",
] as const;

const sshString = (bytes: Buffer): Buffer => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

/** A key line built the way ssh-keygen builds one, with the fuzzer choosing every part and a few defects. */
function constructed(input: Input): string {
  const type = input.pick(TYPES);
  const named = input.bool() ? type : input.pick(TYPES);
  let blob: Buffer;
  if (type === "ssh-rsa") {
    const exponent = input.chunk(4);
    // A modulus of the fuzzer's length: 2048 bits and more are accepted.
    const modulus = Buffer.alloc(input.int(300), input.byte());
    input.bytes(Math.min(modulus.length, input.remaining)).copy(modulus);
    blob = Buffer.concat([
      sshString(Buffer.from(named)),
      sshString(exponent),
      sshString(modulus),
      input.chunk(input.int(2)),
    ]);
  } else blob = Buffer.concat([sshString(Buffer.from(named)), input.chunk(80)]);
  let base64 = blob.toString("base64");
  switch (input.int(7)) {
    case 0:
      base64 = base64.replace(/=+$/, "");
      break;
    case 1:
      base64 = `${base64.slice(0, -1)}${input.pick(["A", "B", "/", "+", "="])}`;
      break;
    case 2:
      base64 += input.pick(["A", "AA", "AAA", "="]);
      break;
  }
  const comment = input.bool() ? "" : `${" ".repeat(1 + input.int(2))}${input.string(40)}`;
  return `${input.bool() ? "" : "  "}${type}${input.bool() ? " " : "  "}${base64}${comment}${input.bool() ? "" : "\n"}`;
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const line = input.bool() ? input.rest().toString("utf8") : constructed(input);
  if (sshKeyProblem(line) !== undefined) return;
  const stored = normaliseSshKey(line);
  assert.ok(!/[\r\n"]/.test(stored), "one key, one line, no quote");
  const [type = "", base64 = ""] = stored.split(" ");
  const blob = Buffer.from(base64, "base64");
  assert.equal(blob.toString("base64"), base64, `the key re-renders to itself: ${JSON.stringify(base64)}`);
  assert.equal(blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1"), type, "the blob names the line's type");
  assert.equal(sshKeyProblem(stored), undefined, "the stored form is accepted again");
  assert.equal(normaliseSshKey(stored), stored, "and stays as it is");
  assert.equal(sshKeyFingerprint(stored), sshKeyFingerprint(line), "with the same fingerprint");
}
