// A mailbox's filesystem unmounted, grown and removed while mail arrives into it: the store
// keeps mbox files open a moment between messages, so the applier has it let go of the
// mailbox first (releaseMailbox). Nothing is lost: every delivery the store acknowledged (what
// the daemon answers 250) is in INBOX once and whole, and no unmount meets EBUSY. Without the
// release the same unmount fails busy, which is what this guards. Needs root: loop mounts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import type { Envelope } from "../../../mailservers/core/types.ts";
import { createMboxStore, type MboxStore } from "../../../mailservers/inbound/store/index.ts";
import {
  createLocalApplier,
  createLocalZone,
  releaseLocalMounts,
  type LocalApplierOptions,
} from "../../../deploy/local/applier.ts";
import { until } from "../../../testkit/until.ts";
import { needsLoopDevices } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const skip = needsLoopDevices;
const sizes = { managedDomain: "semail.test", defaultSize: 16 * 1024 ** 2, minSize: 16 * 1024 ** 2 };
const ADDRESS = "alice@alice.semail.test";
/** Body lines per message: a message cut short loses some. */
const LINES = 20;
/** Most messages sent in a test (a 16 MiB filesystem holds them all, twice: INBOX and the folder). */
const MOST = 6000;

const listOf = (size?: string) =>
  parseUsersList(
    size === undefined ? "mailboxes: []\n" : `mailboxes:\n  - {owner: alice, address: ${ADDRESS}, size: ${size}}\n`,
    sizes,
  );

const mountedAt = async (target: string) =>
  (await run("findmnt", ["-n", "--mountpoint", target]).catch(() => ({ stdout: "" }))).stdout.trim() !== "";

/** Files this process has open under `dir`. */
async function openUnder(dir: string): Promise<string[]> {
  const open: string[] = [];
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target.startsWith(`${dir}/`)) open.push(target);
  }
  return open;
}

function envelope(n: number): Envelope {
  return {
    id: `R${n}`,
    session: {
      id: "s1",
      remoteAddress: "127.0.0.1",
      remotePort: 40000,
      localAddress: "127.0.0.1",
      localPort: 25,
      clientHostname: "client.example",
      secure: false,
    },
    mailFrom: "sender@example.org",
    recipients: [ADDRESS],
    protocol: "ESMTP",
    receivedAt: new Date(),
  };
}

function message(n: number): Readable {
  const body = Array.from({ length: LINES }, (_, k) => `m${n} line ${k}`).join("\r\n");
  return Readable.from([Buffer.from(`From: sender@example.org\r\nSubject: m${n}\r\n\r\n${body}\r\n`)]);
}

/**
 * alice's mailbox on a loop-mounted image, a store over the mail root, and the applier (told
 * to have the store let go of a mailbox first when `release`); all undone after the test.
 */
async function mailboxWithStore(t: TestContext, release: boolean) {
  const dir = await mkdtemp(join(tmpdir(), "semail-release-"));
  const mailRoot = join(dir, "mail");
  let store: MboxStore | undefined;
  /** What the store still had open in the mailbox when it said it had let go: nothing, ever. */
  const openAfterRelease: string[] = [];
  const settings: LocalApplierOptions = {
    mailRoot,
    imageDir: join(dir, "images"),
    fstab: join(dir, "fstab"),
    zone: createLocalZone({ domain: "semail.test", ipv4: "127.0.0.1", serialFile: join(dir, "serial") }),
    publishZone: async () => undefined,
    notifyDaemons: async () => undefined,
    ...(release
      ? {
          releaseMailbox: async (owner: string) => {
            const resume = await store!.release(owner);
            openAfterRelease.push(...(await openUnder(join(mailRoot, owner))));
            return resume;
          },
        }
      : {}),
  };
  const applier = createLocalApplier(settings);
  const apply = (size?: string) =>
    applier.apply({ list: listOf(size), logger: silentLogger(), signal: new AbortController().signal });
  t.after(async () => {
    await store?.close();
    await releaseLocalMounts(settings).catch(() => undefined);
    await run("umount", ["-l", join(mailRoot, "alice")]).catch(() => undefined);
    const loops = (await run("losetup", ["-a"])).stdout.split("\n").filter((line) => line.includes(dir));
    for (const line of loops) await run("losetup", ["-d", line.split(":")[0]!]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  store = createMboxStore({ mailRoot, hostname: "mx.semail.test", logger: silentLogger(), lockTimeoutMs: 30_000 });
  await apply("16MiB");
  return { settings, root: join(mailRoot, "alice"), store, apply, openAfterRelease };
}

/** Four senders delivering numbered messages until stopped (at most MOST): which were acknowledged. */
function sendWhileRunning(store: MboxStore) {
  const acknowledged = new Set<number>();
  let next = 0;
  let stopped = false;
  const sender = async () => {
    while (!stopped && next < MOST) {
      const n = next++;
      // Refused while the mailbox is unmounted (not provisioned) or held too long: a 4xx, retried by the client.
      const stored = await store
        .deliver(envelope(n), [{ owner: "alice", recipient: ADDRESS, quota: 1 << 30 }], message(n))
        .then(
          () => true,
          () => false,
        );
      if (stored) acknowledged.add(n);
      // A steady stream (a message every 20 ms per sender) that outlasts what the test does, not a flood that ends first.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const senders = Promise.all([sender(), sender(), sender(), sender()]);
  /** Waits until `more` further messages are acknowledged: mail is arriving. */
  const arriving = async (more: number) => {
    const from = acknowledged.size;
    await until(() => acknowledged.size >= from + more, `${more} more messages stored`, 30_000);
  };
  return {
    acknowledged,
    arriving,
    stop: async () => {
      stopped = true;
      await senders;
    },
  };
}

/** INBOX's messages by number, each whole or not. */
function messagesIn(inbox: string): Map<number, { count: number; whole: boolean }> {
  const found = new Map<number, { count: number; whole: boolean }>();
  for (const text of inbox.split(/^From /m).slice(1)) {
    const n = Number(/^Subject: m(\d+)$/m.exec(text)?.[1]);
    const body = text.slice(text.indexOf("\n\n") + 2);
    const expected = Array.from({ length: LINES }, (_, k) => `m${n} line ${k}\n`).join("");
    // Each message ends with its last line and the blank line before the next From_.
    const whole = body === `${expected}\n`;
    const seen = found.get(n);
    found.set(n, { count: (seen?.count ?? 0) + 1, whole: (seen?.whole ?? true) && whole });
  }
  return found;
}

test("unmount, grow and remove of a mailbox's filesystem while mail arrives: no EBUSY, every acknowledged message in INBOX once and whole", {
  skip,
  timeout: 5 * 60_000,
}, async (t) => {
  const { settings, root, store, apply, openAfterRelease } = await mailboxWithStore(t, true);
  const mail = sendWhileRunning(store);
  try {
    await mail.arriving(20);

    // Grow: the applier resizes the mounted filesystem (offline where the kernel refuses).
    await apply("32MiB");
    await mail.arriving(20);

    // Unmount (local mode's stop): nothing of the store holds it, so nothing stays attached.
    const stays = await releaseLocalMounts(settings);
    assert.deepEqual(stays, [], "no loop device stays attached");
    assert.equal(await mountedAt(root), false);
    await apply("32MiB");
    assert.ok(await mountedAt(root), "mounted again");
    await mail.arriving(20);

    // Remove: the mailbox leaves the list and its filesystem is unmounted (its mail kept).
    await apply(undefined);
    assert.equal(await mountedAt(root), false);
  } finally {
    await mail.stop();
  }
  await apply("32MiB");
  const found = messagesIn(await readFile(join(root, "INBOX"), "latin1"));
  const missing = [...mail.acknowledged].filter((n) => found.get(n)?.count !== 1 || !found.get(n)?.whole);
  assert.deepEqual(missing, [], "every acknowledged message is in INBOX once and whole");
  const torn = [...found].filter(([, m]) => !m.whole).map(([n]) => n);
  assert.deepEqual(torn, [], "no message in INBOX is cut short");
  assert.ok(mail.acknowledged.size >= 60);
  assert.deepEqual(openAfterRelease, [], "the store had nothing open in the mailbox once it let go");
});

test("without the store letting go, removing a mailbox while mail arrives fails busy (what the release prevents)", {
  skip,
  timeout: 2 * 60_000,
}, async (t) => {
  const { root, store, apply } = await mailboxWithStore(t, false);
  const mail = sendWhileRunning(store);
  try {
    await mail.arriving(20);
    await assert.rejects(apply(undefined), /unmount of alice's filesystem failed: .*busy/);
    assert.ok(await mountedAt(root), "still mounted");
  } finally {
    await mail.stop();
  }
});
