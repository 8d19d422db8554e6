// Owners add and remove the SSH keys of their container on the form, against a real
// slapd: keys validated as the users list validates them, each change applied, no one
// touching another owner's keys or taking one (checked through the real jump sshd), and
// refused text never shown again.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { jumpKeysFile, jumpSshdStanza } from "../../config/stack/jump-host.ts";
import { loadUsersList } from "../../config/users-file.ts";
import { repoPath } from "../../testkit/repo-path.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import { type Client, LIST_OPTIONS, fakeApplier, startForm, type RunningForm, loggedInClient } from "./helpers.ts";
import { tempDir, tempDirForSuite } from "../../testkit/temp-dir.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const PASSWORDS = new Map(TEST_USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };

const { directory } = testDirectoryForFile();
const keyDir = tempDirForSuite("semail-form-keys-");

async function keyPair(
  name: string,
  type = ["-t", "ed25519"],
): Promise<{ line: string; fingerprint: string; privateKey: string; file: string }> {
  const file = join(keyDir.path, name);
  await run("ssh-keygen", ["-q", ...type, "-N", "", "-C", `${name}@laptop`, "-f", file]);
  const { stdout } = await run("ssh-keygen", ["-lf", `${file}.pub`]);
  return {
    line: (await readFile(`${file}.pub`, "utf8")).trim(),
    fingerprint: stdout.split(" ")[1]!,
    privateKey: await readFile(file, "utf8"),
    file,
  };
}

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);

const alert = (text: string) =>
  /role="alert">([^<]*)</.exec(text)?.[1]?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))) ?? "";
const keysOf = async (form: RunningForm, owner: string) =>
  (await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner(owner)?.sshKeys ?? [];

test("an owner adds keys, sees their fingerprints, and removes one; each change is applied", async (t) => {
  const applier = fakeApplier();
  const form = await startForm(t, { directory, applier, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  assert.equal(
    (await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" })).status,
    303,
  );
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
  assert.ok(
    page.includes(laptop.fingerprint) && page.includes(phone.fingerprint),
    "ssh-keygen's fingerprints are shown",
  );
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
    [key.privateKey, 400, /is a private key/],
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

test("a pasted private key is refused, and no line of it comes back in the page", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  const before = await readFile(form.usersFile, "utf8");
  const pasted = [
    (await keyPair("secret")).privateKey,
    (await keyPair("secret-pem", ["-t", "rsa", "-b", "2048", "-m", "PEM"])).privateKey,
  ];
  for (const text of pasted) {
    const reply = await alice.post("/mailbox/keys", { sshKey: text });
    assert.equal(reply.status, 400);
    assert.match(
      alert(reply.text),
      /^The key is a private key, the half that must never leave your computer: paste the line of its \.pub file instead/,
    );
    for (const line of text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)) {
      assert.ok(!reply.text.includes(line), `the page shows the pasted line ${JSON.stringify(line.slice(0, 30))}`);
    }
  }
  // Nor does any other refused key come back: the box starts empty.
  const weak = await keyPair("weak", ["-t", "rsa", "-b", "1024"]);
  const reply = await alice.post("/mailbox/keys", { sshKey: weak.line });
  assert.equal(reply.status, 400);
  assert.match(alert(reply.text), /^The key is a 1024-bit RSA key: RSA keys need at least 2048 bits/);
  assert.ok(!reply.text.includes(weak.line.split(" ")[1]!), "the refused public key is not shown again");
  assert.match(reply.text, /<textarea id="sshKey"[^>]*><\/textarea>/);
  const dsa = await alice.post("/mailbox/keys", { sshKey: (await keyPair("old", ["-t", "dsa"])).line });
  assert.equal(dsa.status, 400);
  assert.match(alert(dsa.text), /^The key is a DSA key \(ssh-dss\)/);
  assert.equal(await readFile(form.usersFile, "utf8"), before, "nothing changed");
});

test("alice cannot add bob's public key: refused without naming bob, and his key stays his alone", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" });
  const bobs = await keyPair("bob-laptop");
  assert.equal((await bob.post("/mailbox/keys", { sshKey: bobs.line })).status, 303);

  // Public keys are public: alice may have it from anywhere, with any comment.
  for (const text of [bobs.line, bobs.line.replace("bob-laptop@laptop", "alice's copy")]) {
    const taken = await alice.post("/mailbox/keys", { sshKey: text });
    assert.equal(taken.status, 409);
    assert.equal(
      alert(taken.text),
      `The key ${bobs.fingerprint} already opens another person's container, and a key opens one container only. Add a key pair of your own (ssh-keygen -t ed25519 makes one).`,
    );
    assert.doesNotMatch(taken.text, /\bbob\b/, "the other owner is not named");
  }
  assert.deepEqual(await keysOf(form, "alice"), []);
  assert.deepEqual(await keysOf(form, "bob"), [bobs.line]);
});

// The jump host for real: sshd (started per connection by the client, `sshd -i`, so no port)
// with the stanza and the keys command the VM and local mode install, reading one
// <owner>.keys file per live mailbox made by jumpKeysFile from the list the form wrote. The
// two containers are listeners on port 22 of two loopback addresses.
const jumpSkip = needsRoot || (existsSync("/usr/sbin/sshd") ? false : "no sshd here (openssh-server)");

test("after alice tries bob's key, bob still reaches his container through the jump sshd, and not hers", {
  skip: jumpSkip,
}, async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" });
  const bobs = await keyPair("bob-jump");
  const alices = await keyPair("alice-jump");
  assert.equal((await bob.post("/mailbox/keys", { sshKey: bobs.line })).status, 303);
  assert.equal((await alice.post("/mailbox/keys", { sshKey: alices.line })).status, 303);
  await alice.post("/mailbox/keys", { sshKey: bobs.line });

  const containers = new Map([
    ["alice", "127.0.0.2"],
    ["bob", "127.0.0.3"],
  ]);
  const servers: Server[] = [];
  t.after(() => Promise.all(servers.map((s) => new Promise((done) => s.close(done)))));
  for (const [owner, ip] of containers) {
    const server = createServer((socket) => socket.end(`SSH-2.0-container-of-${owner}\r\n`));
    servers.push(server);
    const taken = await new Promise<boolean>((listening, failed) => {
      server
        .once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? listening(true) : failed(err)))
        .listen(22, ip, () => listening(false));
    });
    // A host sshd on *:22 holds every address's port 22.
    if (taken) return t.skip(`port 22 of ${ip} is taken here`);
  }

  // Readable by the keys user (not root), as jump-host.sh sets it up on the VM.
  const dir = await tempDir(t, "semail-jump-sshd-");
  const keysDir = join(dir, "jump");
  await mkdir(keysDir);
  await chmod(dir, 0o755);
  await chmod(keysDir, 0o755);
  const list = await loadUsersList(form.usersFile, LIST_OPTIONS);
  for (const m of list.mailboxes)
    await writeFile(join(keysDir, `${m.owner}.keys`), jumpKeysFile(containers.get(m.owner)!, m.sshKeys), {
      mode: 0o644,
    });
  const keysScript = join(dir, "jump-keys.sh");
  await copyFile(repoPath("assets/host/jump-keys.sh"), keysScript);
  await chmod(keysScript, 0o755);
  const hostKey = join(dir, "host_key");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  // The stanza as shipped, for accounts that exist here: nobody logs in, daemon runs the keys command.
  let stanza = jumpSshdStanza();
  for (const [from, to] of [
    ["Match User semail-jump\n", "Match User nobody\n"],
    [
      "AuthorizedKeysCommand /usr/local/sbin/semail-jump-keys %u\n",
      `AuthorizedKeysCommand /bin/bash ${keysScript} %u --user nobody --dir ${keysDir}\n`,
    ],
    ["AuthorizedKeysCommandUser semail-jumpkeys\n", "AuthorizedKeysCommandUser daemon\n"],
  ] as const) {
    assert.ok(stanza.includes(from), from);
    stanza = stanza.replace(from, to);
  }
  const config = join(dir, "sshd_config");
  await writeFile(config, `HostKey ${hostKey}\nLogLevel VERBOSE\n${stanza}`);

  const through = async (key: string, target: string) => {
    const r = await run(
      "ssh",
      [
        "-F",
        "/dev/null",
        "-i",
        key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        `ProxyCommand=/usr/sbin/sshd -i -e -f ${config}`,
        "-W",
        `${target}:22`,
        "nobody@jump",
      ],
      { timeout: 20_000 },
    ).catch((err: { stdout?: string; stderr?: string }) => err);
    return { stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const bobToBob = await through(bobs.file, "127.0.0.3");
  assert.equal(bobToBob.stdout, "SSH-2.0-container-of-bob\r\n", bobToBob.stderr);
  const aliceToAlice = await through(alices.file, "127.0.0.2");
  assert.equal(aliceToAlice.stdout, "SSH-2.0-container-of-alice\r\n", aliceToAlice.stderr);
  for (const [key, target] of [
    [bobs.file, "127.0.0.2"],
    [alices.file, "127.0.0.3"],
  ] as const) {
    const other = await through(key, target);
    assert.equal(other.stdout, "", `${key} reached ${target}`);
    assert.match(other.stderr, /administratively prohibited/);
  }
});
