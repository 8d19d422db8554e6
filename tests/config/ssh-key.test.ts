// Public key lines against real keys made by ssh-keygen: accepted as the users list and the
// form take them, fingerprints equal to ssh-keygen's own, and the lines that would smuggle
// a second key or an option into an authorized_keys file refused.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { normaliseSshKey, sshKeyFingerprint, sshKeyProblem } from "../../config/ssh-key.ts";

const run = promisify(execFile);

async function keyPair(type: string, dir: string, bits?: number): Promise<{ line: string; fingerprint: string }> {
  const file = join(dir, `id_${type}`);
  await run("ssh-keygen", ["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", `me@${type}`, "-f", file]);
  const line = (await readFile(`${file}.pub`, "utf8")).trim();
  const { stdout } = await run("ssh-keygen", ["-lf", `${file}.pub`]);
  return { line, fingerprint: stdout.split(" ")[1]! };
}

test("keys made by ssh-keygen are accepted, with ssh-keygen's fingerprint", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "semail-keys-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [type, bits] of [["ed25519"], ["rsa", 2048], ["ecdsa", 256]] as const) {
    const { line, fingerprint } = await keyPair(type, dir, bits);
    assert.equal(sshKeyProblem(line), undefined, line);
    assert.equal(sshKeyProblem(`  ${line}\n`), undefined, "surrounding blanks are fine");
    assert.equal(sshKeyFingerprint(line), fingerprint, type);
    assert.equal(normaliseSshKey(`${line}  `), line);
  }
});

test("lines that are not exactly one key are refused, saying why", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "semail-keys-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { line } = await keyPair("ed25519", dir);
  const [type, blob] = line.split(" ");
  const refused: Array<[string, RegExp]> = [
    ["", /is not an OpenSSH public key line/],
    [`command="/bin/sh" ${line}`, /is not an OpenSSH public key line/],
    [`${line}\n${line}`, /is not an OpenSSH public key line/],
    [`${type} ${blob} comment" with a quote`, /is not an OpenSSH public key line/],
    [`ssh-dss ${blob}`, /key type "ssh-dss" is not supported/],
    [`ssh-rsa ${blob}`, /the key data is damaged or is not a ssh-rsa key/],
    [`${type} ${blob!.slice(0, 12)}`, /the key data is damaged/],
    [`${type} ${"A".repeat(8000)}`, /the key data is damaged/],
  ];
  for (const [text, reason] of refused) assert.match(sshKeyProblem(text) ?? "accepted", reason, JSON.stringify(text.slice(0, 60)));
});
