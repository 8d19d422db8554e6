// Sizes that tell the truth, through the daemons: a message that cannot fit in a mailbox
// (both copies, on its own ext4 image as mailbox-fs.sh mounts it) is refused for good at
// once, at RCPT when the client declared SIZE, else at the end of DATA; never a 451 retry
// loop. EHLO's SIZE is the largest message a mailbox takes now. Through submission, the
// sender gets the bounce at once instead of a day in outbound's queue.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import type { Directory } from "../../../config/directory.ts";
import type { Settings } from "../../../config/settings.ts";
import { startInbound, type RunningInbound } from "../../../mailservers/inbound/daemon.ts";
import { SmtpClient, simpleMessage } from "../../helpers/smtp.ts";
import { until } from "../../../testkit/until.ts";
import { daemonSettings, plain, startDaemon } from "../outbound/daemon-fixture.ts";
import { provision, readMbox, testSettings, usersYaml, type UserEntry } from "./fixture.ts";
import { mountedExt4 } from "./store/fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const MiB = 1024 ** 2;

interface Running {
  readonly daemon: RunningInbound;
  readonly port: number;
  readonly settings: Settings;
  readonly root: (owner: string) => string;
}

/**
 * The inbound daemon with `users`, `imageOwner`'s mailbox on a 64 MiB ext4 image of its
 * own, the others plain directories on the host's disk. Stopped, then unmounted, then removed.
 */
async function inboundWithImage(
  t: TestContext,
  users: readonly UserEntry[],
  imageOwner: string,
  inbound: Record<string, unknown> = {},
): Promise<Running | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), "semail-room-"));
  let daemon: RunningInbound | undefined;
  t.after(() => daemon?.stop());
  const settings = testSettings(dir, { maxMessageSize: 50 * MiB, ...inbound });
  const mounted = await mountedExt4(t, 64 * MiB, path.join(settings.inbound.mailRoot, imageOwner));
  t.after(() => rm(dir, { recursive: true, force: true }));
  if (typeof mounted !== "string") {
    t.skip(mounted.skip);
    return undefined;
  }
  await writeFile(settings.users, usersYaml(users));
  await provision(settings.inbound.mailRoot, users);
  // mail/ too, as mailbox-fs.sh makes it.
  for (const { owner } of users)
    await mkdir(path.join(settings.inbound.mailRoot, owner, "mail"), { recursive: true, mode: 0o700 });
  daemon = await startInbound(settings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
  return {
    daemon,
    port: daemon.addresses[0]!.boundPort,
    settings,
    root: (owner) => path.join(settings.inbound.mailRoot, owner),
  };
}

/** A message of about `size` bytes with CRLF lines, as a client sends it. */
function messageOf(size: number, to: string, subject: string): Buffer {
  const head = simpleMessage({ from: "alice@example.org", to, subject, body: "" });
  const line = `${"m".repeat(78)}\r\n`;
  return Buffer.from(head + line.repeat(Math.max(1, Math.floor((size - head.length) / line.length))), "latin1");
}

/** Every file under `root` with its size. */
async function sizes(root: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of await readdir(root, { recursive: true }))
    out[String(name)] = (await stat(path.join(root, String(name)))).size;
  return out;
}

const ehloSize = (lines: readonly string[]) =>
  Number(/^250[ -]SIZE (\d+)$/.exec(lines.find((l) => /^250[ -]SIZE /.test(l)) ?? "")?.[1]);
const codes = (reply: { code: number; text: string }) => [reply.code, reply.text.slice(0, 5)];

test("SIZE declared at MAIL beyond a mailbox's room: 552 5.2.2 at RCPT for that mailbox only", async (t) => {
  const running = await inboundWithImage(
    t,
    [
      { owner: "bob", address: "bob@semail.test", size: "64MiB" },
      { owner: "carol", address: "carol@semail.test" },
    ],
    "bob",
  );
  if (!running) return;
  const c = await SmtpClient.connect(running.port);
  t.after(() => c.close());
  const ehlo = await c.command("EHLO client.example");
  assert.equal(ehloSize(ehlo.lines), 50 * MiB, "carol's mailbox takes the largest message allowed");
  assert.equal((await c.command(`MAIL FROM:<alice@example.org> SIZE=${30 * MiB}`)).code, 250);
  const bob = await c.command("RCPT TO:<bob@semail.test>");
  assert.deepEqual(codes(bob), [552, "5.2.2"], bob.text);
  assert.match(bob.text, /<bob@semail\.test>/);
  assert.equal((await c.command("RCPT TO:<carol@semail.test>")).code, 250, "another mailbox with room still takes it");
  await c.command("RSET");
  assert.equal((await c.command(`MAIL FROM:<alice@example.org> SIZE=${MiB}`)).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@semail.test>")).code, 250, "a size that fits");
});

test("30 MiB into a 64 MiB mailbox gets 552 5.2.2 at the end of DATA, nothing kept; EHLO SIZE says the largest message it takes, and one that fits goes in", async (t) => {
  // bob is also the admin mailbox: no other mailbox here.
  const running = await inboundWithImage(t, [{ owner: "bob", address: "bob@semail.test", size: "64MiB" }], "bob", {
    adminOwner: "bob",
  });
  if (!running) return;
  const c = await SmtpClient.connect(running.port, { timeoutMs: 60_000 });
  t.after(() => c.close());
  await c.command("EHLO client.example");
  const before = await sizes(running.root("bob"));
  assert.equal((await c.command("MAIL FROM:<alice@example.org>")).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@semail.test>")).code, 250);
  const refused = await c.data(messageOf(30 * MiB, "bob@semail.test", "thirty"));
  assert.deepEqual(codes(refused), [552, "5.2.2"], refused.text);
  assert.deepEqual(await sizes(running.root("bob")), before, "nothing half-written stays");
  assert.deepEqual(
    (await readdir(path.join(running.settings.inbound.mailRoot, ".tmp"))).filter((n) => n !== "pending"),
    [],
    "no temp body left",
  );

  const largest = (await running.daemon.largestMessage("bob"))!;
  t.diagnostic(`a 64 MiB mailbox takes at most ${largest} bytes (${(largest / MiB).toFixed(2)} MiB)`);
  assert.ok(largest > 24 * MiB && largest < 30 * MiB, String(largest));
  assert.equal(ehloSize((await c.command("EHLO client.example")).lines), largest);
  // Declared: refused at MAIL against that SIZE, before a byte of the body.
  assert.deepEqual(codes(await c.command(`MAIL FROM:<alice@example.org> SIZE=${30 * MiB}`)), [552, "5.3.4"]);
  assert.equal((await c.command("MAIL FROM:<alice@example.org>")).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@semail.test>")).code, 250);
  assert.equal((await c.data(messageOf(largest - 4096, "bob@semail.test", "fits"))).code, 250);
  assert.deepEqual(
    (await readMbox(path.join(running.root("bob"), "INBOX"))).map((m) => m.subject),
    ["fits"],
  );
});

test("through submission: alice's 30 MiB to bob's 64 MiB mailbox comes back to her at once as a 5.2.2 bounce, not a day in the queue", async (t) => {
  const users: UserEntry[] = [
    { owner: "alice", address: "alice@semail.test" },
    { owner: "bob", address: "bob@semail.test", size: "64MiB" },
  ];
  const running = await inboundWithImage(t, users, "bob");
  if (!running) return;
  const directory: Directory = {
    authenticate: async (uid, password) =>
      uid === "alice" && password === "pw" ? { ok: true, user: { uid, dn: `uid=${uid}` } } : { ok: false },
    isAdmin: async () => false,
    close: async () => {},
  };
  const outDir = await tempDir(t, "semail-room-out-");
  // As local mode: every message goes to this machine's inbound daemon. The retry table
  // would wait a minute before trying again: the bounce must come before that.
  const settings = await daemonSettings(outDir, {
    users: usersYaml(users),
    outbound: {
      retry: { delays: ["60s", "1h"], maxAge: "1d", delayNotice: 0 },
      delivery: { relayHost: { host: "127.0.0.1", port: running.port } },
    },
  });
  const outbound = await startDaemon(t, settings, { directory });
  const c = await SmtpClient.connect(outbound.port, { timeoutMs: 60_000 });
  t.after(() => c.close());
  await c.command("EHLO client.test");
  assert.equal((await c.command(`AUTH PLAIN ${plain("alice", "pw")}`)).code, 235);
  assert.equal((await c.command("MAIL FROM:<alice@semail.test>")).code, 250);
  assert.equal((await c.command("RCPT TO:<bob@semail.test>")).code, 250);
  const body = messageOf(30 * MiB, "bob@semail.test", "thirty")
    .toString("latin1")
    .replace(/^From: <alice@example\.org>/m, "From: <alice@semail.test>");
  const accepted = await c.data(body);
  // Outbound cannot see bob's disk (on the VM it may be another machine's): it queues.
  assert.equal(accepted.code, 250, accepted.text);

  const inbox = path.join(running.root("alice"), "INBOX");
  await until(async () => (await stat(inbox)).size > 0, "the bounce in alice's INBOX", 30_000);
  const [dsn] = await readMbox(inbox);
  assert.equal(dsn!.subject, "Undelivered Mail Returned to Sender");
  const raw = await readFile(inbox, "latin1");
  assert.match(raw, /^Status: 5\.2\.2$/m);
  assert.match(raw, /^Diagnostic-Code: smtp; 552 5\.2\.2 /m);
  await until(() => outbound.queue.size === 0, "an empty queue");
  assert.equal((await stat(path.join(running.root("bob"), "INBOX"))).size, 0, "nothing for bob");
});
