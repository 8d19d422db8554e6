// Owners add and remove the SSH keys of their container on the form, against a real
// slapd: keys validated as the users list validates them, each change applied, and no one
// touching another owner's keys.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { loadUsersList } from "../../config/users-file.ts";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../directory/types.ts";
import { TEST_USERS, startTestSlapd, type TestSlapd } from "../helpers/slapd.ts";
import { Client, LIST_OPTIONS, fakeApplier, startForm, type RunningForm, loggedInClient } from "./helpers.ts";

const run = promisify(execFile);
const PASSWORDS = new Map(TEST_USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };

let slapd: TestSlapd;
let directory: Directory;
let keyDir: string;
before(async () => {
  slapd = await startTestSlapd();
  directory = createDirectory(slapd.settings());
  keyDir = await mkdtemp(join(tmpdir(), "semail-form-keys-"));
});
after(async () => {
  await directory?.close();
  await slapd?.stop();
  await rm(keyDir, { recursive: true, force: true });
});

async function keyPair(name: string): Promise<{ line: string; fingerprint: string; privateKey: string }> {
  const file = join(keyDir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@laptop`, "-f", file]);
  const { stdout } = await run("ssh-keygen", ["-lf", `${file}.pub`]);
  return { line: (await readFile(`${file}.pub`, "utf8")).trim(), fingerprint: stdout.split(" ")[1]!, privateKey: await readFile(file, "utf8") };
}

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);

const alert = (text: string) => /role="alert">([^<]*)</.exec(text)?.[1]?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))) ?? "";
const keysOf = async (form: RunningForm, owner: string) => (await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner(owner)?.sshKeys ?? [];

test("an owner adds keys, sees their fingerprints, and removes one; each change is applied", async (t) => {
  const applier = fakeApplier();
  const form = await startForm(t, { directory, applier, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  assert.equal((await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" })).status, 303);
  const laptop = await keyPair("laptop");
  const phone = await keyPair("phone");

  const added = await alice.post("/mailbox/keys", { sshKey: `  ${laptop.line}\n` });
  assert.equal(added.status, 303, alert(added.text));
  assert.equal(added.location, "/?key-added#ssh-keys");
  await alice.post("/mailbox/keys", { sshKey: phone.line });
  assert.deepEqual(await keysOf(form, "alice"), [laptop.line, phone.line]);
  await form.runner.idle();
  const runs = applier.runs.length;

  const page = (await alice.get("/?key-added")).text;
  assert.ok(page.includes(laptop.fingerprint) && page.includes(phone.fingerprint), "ssh-keygen's fingerprints are shown");
  const removed = await alice.post("/mailbox/keys/remove", { fingerprint: laptop.fingerprint });
  assert.equal(removed.status, 303);
  assert.deepEqual(await keysOf(form, "alice"), [phone.line]);
  await form.runner.idle();
  assert.ok(applier.runs.length > runs, "the removal was applied");
  assert.doesNotMatch((await alice.get("/")).text, new RegExp(laptop.fingerprint.replace(/[+/]/g, "\\$&")));
});

test("bad keys are refused with the reason and change nothing; nobody touches another's keys", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  const noMailbox = await bob.post("/mailbox/keys", { sshKey: (await keyPair("early")).line });
  assert.equal(noMailbox.status, 404);
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" });
  const key = await keyPair("desk");
  await alice.post("/mailbox/keys", { sshKey: key.line });
  const before = await readFile(form.usersFile, "utf8");

  const cases: Array<[string, number, RegExp]> = [
    ["", 400, /Paste a public key/],
    [key.privateKey, 400, /That is a private key/],
    [`command="/bin/sh" ${key.line}`, 400, /is not an OpenSSH public key line/],
    [`${key.line}\n${key.line}`, 400, /is not an OpenSSH public key line/],
    [key.line.replace("ssh-ed25519", "ssh-rsa"), 400, /damaged or is not a ssh-rsa key/],
    [`${key.line.split(" ").slice(0, 2).join(" ")} another comment`, 409, /is already there/],
  ];
  for (const [text, status, reason] of cases) {
    const reply = await alice.post("/mailbox/keys", { sshKey: text });
    assert.equal(reply.status, status, text.slice(0, 40));
    assert.match(alert(reply.text), reason);
  }
  const stolen = await bob.post("/mailbox/keys/remove", { fingerprint: key.fingerprint });
  assert.equal(stolen.status, 404, "bob cannot remove alice's key");
  assert.equal((await alice.post("/mailbox/keys", { sshKey: key.line, _csrf: "forged" })).status, 403);
  assert.equal(await readFile(form.usersFile, "utf8"), before, "nothing changed");
});
