// The jump account's host scripts for real against a temporary directory: jump-keys.sh
// (sshd's AuthorizedKeysCommand), jump-access.sh (one owner's file: atomic write, guarded
// remove, hostile owners refused), and the sshd stanza checked by the real sshd.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { jumpKeysFile, jumpSshdStanza } from "../../../config/stack/jump-host.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const script = (name: string) => repoPath("assets/host", name);
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIkr3jGnfEdp6cnsNJqd4M8ynTelKLn0mmsEDQBEfi6f alice@laptop";
const KEY2 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0bob bob@desk";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}
function run(file: string, args: readonly string[], stdin = ""): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
    // A script that refuses early exits without reading stdin: that EPIPE is expected.
    child.stdin?.on("error", () => {});
    child.stdin?.end(stdin);
  });
}
const access = (args: readonly string[], stdin = "") => run("bash", [script("jump-access.sh"), ...args], stdin);
const keys = (args: readonly string[]) => run("bash", [script("jump-keys.sh"), ...args]);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function place(t: TestContext): Promise<string> {
  const dir = await tempDir(t, "semail-jump-");
  const jump = join(dir, "jump");
  await mkdir(jump);
  return jump;
}

test("jump-keys.sh prints every restricted line of every *.keys file, for the jump account only", async (t) => {
  const dir = await place(t);
  await writeFile(join(dir, "alice.keys"), jumpKeysFile("172.30.0.2", [KEY]));
  // No trailing newline: the last line still counts.
  await writeFile(join(dir, "bob.keys"), jumpKeysFile("172.30.0.3", [KEY2]).trimEnd());
  await writeFile(join(dir, "carol.keys"), `# a comment\n${KEY}\n`); // unrestricted: never printed
  await writeFile(join(dir, "notes.txt"), jumpKeysFile("172.30.0.9", [KEY]));
  const out = await keys(["semail-jump", "--dir", dir]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.stdout.split("\n").filter(Boolean).sort(), [
    `restrict,port-forwarding,permitopen="172.30.0.2:22" ${KEY}`,
    `restrict,port-forwarding,permitopen="172.30.0.3:22" ${KEY2}`,
  ]);
  const other = await keys(["root", "--dir", dir]);
  assert.equal(other.code, 0);
  assert.equal(other.stdout, "", "no keys for any other account");
  const empty = await keys(["semail-jump", "--dir", join(dir, "missing")]);
  assert.equal(empty.code, 0);
  assert.equal(empty.stdout, "");
});

test("jump-access.sh write replaces <owner>.keys atomically, mode 0640, and refuses a bad line keeping the old file", async (t) => {
  const dir = await place(t);
  const v1 = jumpKeysFile("172.30.0.2", [KEY]);
  const first = await access(["write", "--owner", "alice", "--dir", dir], v1);
  assert.equal(first.code, 0, first.stderr);
  const file = join(dir, "alice.keys");
  assert.equal(await readFile(file, "utf8"), v1);
  assert.equal((await stat(file)).mode & 0o777, 0o640);
  const again = await access(["write", "--owner", "alice", "--dir", dir], v1);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await readFile(file, "utf8"), v1, "idempotent");

  for (const bad of [
    `${KEY}\n`,
    `restrict,port-forwarding,permitopen="172.30.0.2:23" ${KEY}\n`,
    `restrict,port-forwarding,permitopen="172.30.0.2:22",command="sh" ${KEY}\n`,
    `${v1}no-restrict ${KEY}\n`,
  ]) {
    const refused = await access(["write", "--owner", "alice", "--dir", dir], bad);
    assert.notEqual(refused.code, 0, `refused: ${bad}`);
    assert.match(refused.stderr, /is not 'restrict,port-forwarding,permitopen="IP:22" <public key>'; nothing written/);
    assert.equal(await readFile(file, "utf8"), v1, "the old file stays");
  }
  assert.deepEqual(await readdir(dir), ["alice.keys"], "no temp files left behind");
});

test("jump-access.sh remove deletes the file only while it holds what the caller wrote", async (t) => {
  const dir = await place(t);
  const file = join(dir, "alice.keys");
  const v1 = jumpKeysFile("172.30.0.2", [KEY]);
  const v2 = jumpKeysFile("172.30.0.7", [KEY, KEY2]);
  assert.equal((await access(["write", "--owner", "alice", "--dir", dir], v1)).code, 0);
  // A replacement is created before the old resource is deleted: the old delete must not
  // take away the new file.
  assert.equal((await access(["write", "--owner", "alice", "--dir", dir], v2)).code, 0);
  const stale = await access(["remove", "--owner", "alice", "--dir", dir, "--sha256", sha256(v1)]);
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(stale.stderr, /changed since .*left in place/);
  assert.equal(await readFile(file, "utf8"), v2);

  const removed = await access(["remove", "--owner", "alice", "--dir", dir, "--sha256", sha256(v2)]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(existsSync(file), false);
  const twice = await access(["remove", "--owner", "alice", "--dir", dir, "--sha256", sha256(v2)]);
  assert.equal(twice.code, 0, "idempotent");
  const badSha = await access(["remove", "--owner", "alice", "--dir", dir, "--sha256", "abc"]);
  assert.notEqual(badSha.code, 0);
  assert.match(badSha.stderr, /--sha256 "abc" must be 64 hex digits/);
});

test("jump-access.sh refuses a hostile owner before it becomes a path", async (t) => {
  const dir = await place(t);
  const outside = join(dir, "..", "escaped.keys");
  const line = jumpKeysFile("172.30.0.2", [KEY]);
  for (const owner of ["../escaped", "a/b", "..", "a..b", "Alice", "-x", "", "alice\nbob", "a b", "x".repeat(65)]) {
    for (const args of [
      ["write", "--owner", owner, "--dir", dir],
      ["remove", "--owner", owner, "--dir", dir, "--sha256", sha256(line)],
    ]) {
      const r = await access(args, line);
      assert.notEqual(r.code, 0, `${args[0]} ${JSON.stringify(owner)} refused`);
      assert.match(r.stderr, /is not a valid owner id/);
    }
  }
  assert.equal(existsSync(outside), false);
  assert.deepEqual(await readdir(dir), []);
  const relative = await access(["write", "--owner", "alice", "--dir", "jump/../x"], line);
  assert.notEqual(relative.code, 0);
  assert.match(relative.stderr, /must be an absolute path/);
});

test("jump-host.sh refuses bad account names and paths before changing anything", async () => {
  const base = [
    "setup",
    "--user",
    "semail-jump",
    "--keys-user",
    "semail-jumpkeys",
    "--dir",
    "/etc/semail/jump",
    "--command",
    "/usr/local/sbin/semail-jump-keys",
    "--sshd-conf",
    "/etc/ssh/sshd_config.d/semail-jump.conf",
  ];
  const cases: [string[], RegExp][] = [
    [base.map((a) => (a === "semail-jump" ? "root;id" : a)), /"root;id" is not a valid account name/],
    [base.map((a) => (a === "semail-jumpkeys" ? "semail-jump" : a)), /--user and --keys-user must differ/],
    [base.map((a) => (a === "/etc/semail/jump" ? "/etc/../root" : a)), /must be an absolute path/],
  ];
  for (const [args, message] of cases) {
    const r = await run("bash", [script("jump-host.sh"), ...args], jumpSshdStanza());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
  }
});

const sshdSkip = !existsSync("/usr/sbin/sshd")
  ? "no sshd here (openssh-server)"
  : !existsSync("/run/sshd") && needsRoot;

test("the real sshd accepts the stanza, applies it to the jump account only, and it does not leak", {
  skip: sshdSkip,
}, async (t) => {
  const dir = await place(t);
  await mkdir("/run/sshd", { recursive: true }); // as the ssh service does; sshd -t insists
  const hostKey = join(dir, "host_key");
  const gen = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  assert.equal(gen.code, 0, gen.stderr);
  await writeFile(join(dir, "semail-jump.conf"), jumpSshdStanza());
  // As Debian's sshd_config: the Include first, then settings for everyone.
  const main = join(dir, "sshd_config");
  await writeFile(main, `Include ${dir}/*.conf\nHostKey ${hostKey}\nX11Forwarding yes\nSubsystem sftp internal-sftp\n`);
  const check = await run("/usr/sbin/sshd", ["-t", "-f", main]);
  assert.equal(check.code, 0, check.stderr);
  const effective = async (user: string) => {
    const r = await run("/usr/sbin/sshd", ["-T", "-f", main, "-C", `user=${user},host=client,addr=127.0.0.1`]);
    assert.equal(r.code, 0, r.stderr);
    return new Map(
      r.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
    );
  };
  const jump = await effective("semail-jump");
  assert.equal(jump.get("authorizedkeyscommand"), "/usr/local/sbin/semail-jump-keys %u");
  assert.equal(jump.get("authorizedkeyscommanduser"), "semail-jumpkeys");
  assert.equal(jump.get("authorizedkeysfile"), "none");
  assert.equal(jump.get("allowtcpforwarding"), "local");
  assert.equal(jump.get("permittty"), "no");
  assert.equal(jump.get("x11forwarding"), "no");
  assert.equal(jump.get("forcecommand"), "/usr/sbin/nologin");
  const other = await effective("root");
  assert.equal(other.get("authorizedkeyscommand"), "none");
  assert.equal(other.get("x11forwarding"), "yes", "the Match block ends inside the drop-in");
  assert.equal(other.get("forcecommand"), "none");
});
