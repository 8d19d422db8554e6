// Public key lines against real keys made by ssh-keygen: accepted as the users list and the
// form take them, fingerprints equal to ssh-keygen's own, and the lines that would smuggle
// a second key or an option into an authorized_keys file refused, as are weak keys (RSA
// under 2048 bits, DSA) and private keys, whose text is never quoted back.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { MIN_RSA_BITS, normaliseSshKey, sshKeyFingerprint, sshKeyProblem } from "../../config/ssh-key.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const run = promisify(execFile);

async function keyPair(
  type: string,
  dir: string,
  bits?: number,
  format?: string,
): Promise<{ line: string; fingerprint: string; privateKey: string }> {
  const file = join(dir, `id_${type}${bits ?? ""}${format ?? ""}`);
  await run("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    ...(format ? ["-m", format] : []),
    "-N",
    "",
    "-C",
    `me@${type}`,
    "-f",
    file,
  ]);
  const line = (await readFile(`${file}.pub`, "utf8")).trim();
  const { stdout } = await run("ssh-keygen", ["-lf", `${file}.pub`]);
  return { line, fingerprint: stdout.split(" ")[1]!, privateKey: await readFile(file, "utf8") };
}

test("keys made by ssh-keygen are accepted, with ssh-keygen's fingerprint", async (t) => {
  const dir = await tempDir(t, "semail-keys-");
  for (const [type, bits] of [["ed25519"], ["rsa", 2048], ["rsa", 3072], ["ecdsa", 256]] as const) {
    const { line, fingerprint } = await keyPair(type, dir, bits);
    assert.equal(sshKeyProblem(line), undefined, line);
    assert.equal(sshKeyProblem(`  ${line}\n`), undefined, "surrounding blanks are fine");
    assert.equal(sshKeyFingerprint(line), fingerprint, type);
    assert.equal(normaliseSshKey(`${line}  `), line);
  }
});

test("lines that are not exactly one key are refused, saying why", async (t) => {
  const dir = await tempDir(t, "semail-keys-");
  const { line } = await keyPair("ed25519", dir);
  const [type, blob] = line.split(" ");
  const refused: Array<[string, RegExp]> = [
    ["", /is not an OpenSSH public key line/],
    [`command="/bin/sh" ${line}`, /is not an OpenSSH public key line/],
    [`${line}\n${line}`, /is not an OpenSSH public key line/],
    [`${type} ${blob} comment" with a quote`, /is not an OpenSSH public key line/],
    [`ssh-dss ${blob}`, /is a DSA key/],
    [`ssh-foo ${blob}`, /key type "ssh-foo" is not supported/],
    [`SECRETsecret ${blob}`, /: that key type is not supported$/],
    [`ssh-rsa ${blob}`, /the key data is damaged or is not a ssh-rsa key/],
    [`${type} ${blob!.slice(0, 12)}`, /the key data is damaged/],
    [`${type} ${"A".repeat(8000)}`, /the key data is damaged/],
  ];
  for (const [text, reason] of refused)
    assert.match(sshKeyProblem(text) ?? "accepted", reason, JSON.stringify(text.slice(0, 60)));
});

test("RSA under 2048 bits and DSA are refused, saying why and what to make instead", async (t) => {
  const dir = await tempDir(t, "semail-keys-");
  for (const bits of [1024, 2047]) {
    const { line } = await keyPair("rsa", dir, bits);
    assert.equal(
      sshKeyProblem(line),
      `is a ${bits}-bit RSA key: RSA keys need at least ${MIN_RSA_BITS} bits; make a new key with \`ssh-keygen -t ed25519\` and add the line of its .pub file (or \`ssh-keygen -t rsa -b 3072\`)`,
    );
  }
  const dsa = await keyPair("dsa", dir);
  assert.match(
    sshKeyProblem(dsa.line) ?? "accepted",
    /^is a DSA key \(ssh-dss\): DSA keys are 1024 bits, too weak, .*ssh-keygen -t ed25519/,
  );

  // The modulus is read from the blob itself: a cut one is damaged, not small.
  const rsa = await keyPair("rsa", dir, 3072);
  const [type, base64] = rsa.line.split(" ");
  const blob = Buffer.from(base64!, "base64");
  for (const cut of [blob.subarray(0, blob.length - 1), Buffer.concat([blob, Buffer.from([0])])]) {
    assert.match(
      sshKeyProblem(`${type} ${cut.toString("base64")}`) ?? "accepted",
      /the key data is damaged or is not a ssh-rsa key/,
    );
  }
});

test("a private key is refused as such, and nothing of its text is quoted back", async (t) => {
  const dir = await tempDir(t, "semail-keys-");
  const pasted = [
    (await keyPair("ed25519", dir)).privateKey,
    (await keyPair("rsa", dir, 2048, "PEM")).privateKey,
    (await keyPair("ecdsa", dir, 256, "PKCS8")).privateKey,
  ];
  // Without its armour lines (a careless copy): the OpenSSH key's body still says what it is.
  pasted.push(
    pasted[0]!
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("-----"))
      .join(""),
  );
  for (const text of pasted) {
    const problem = sshKeyProblem(text) ?? "accepted";
    assert.match(
      problem,
      /^is a private key, the half that must never leave your computer: paste the line of its \.pub file instead/,
    );
    for (const piece of text.split(/\s+/).filter((p) => p.length >= 8))
      assert.ok(!problem.includes(piece), `the answer quotes ${piece}`);
  }
});
