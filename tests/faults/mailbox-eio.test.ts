// Fault row: EIO on write(2), then on fsync, in two mailboxes at once, through the real inbound
// daemon. Each failing message gets 451 4.x.x, their mbox files stay byte for byte as they
// were, a third mailbox takes all its mail meanwhile, and the daemon logs the error once per
// mailbox (not once per message), then how many appends failed when the mailbox works again.
//
// The EIO comes from the store's FaultInjector, not a failing device: there is no device-mapper
// here, and a loop device over a tmpfs that fills does give a real EIO on fdatasync, but ext4
// then aborts its journal and goes read-only, so the store cannot cut the failed append back out
// (EROFS) and rightly leaves the mailbox locked for crash recovery; clearing that takes a daemon
// restart, an unmount and e2fsck. That is a row of its own (a mailbox filesystem gone read-only);
// this one is about the replies and the log while the disk fails and the daemon keeps running.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { Writable } from "node:stream";
import { createLogger } from "../../lib/logger.ts";
import { startInbound } from "../../mailservers/inbound/daemon.ts";
import { faultError, type FaultInjector } from "../../mailservers/inbound/store/index.ts";
import { provision, testSettings, usersYaml } from "../mailservers/inbound/fixture.ts";
import { untilValue } from "../../testkit/until.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { Ledger } from "./ledger.ts";
import { mailboxFiles } from "./mailbox-files.ts";
import { recordOutcome } from "./outcome.ts";
import { sendTagged, tagsIn } from "./tagged-mail.ts";

const FAILING = ["alice", "carol"] as const;
const HEALTHY = "bob";
const USERS = [...FAILING, HEALTHY].map((owner) => ({ owner, address: `${owner}@semail.test` }));
/** Failing messages per mailbox and per kind of fault. */
const PER_FAULT = 10;
const BYTES = 20_000;

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly root?: string;
  readonly failedAppends?: number;
  readonly err?: { readonly code?: string };
}

test("EIO on write or fsync: 451 4.x.x, the mbox untouched, the error logged once per mailbox; cleared, delivery resumes", async (t) => {
  const dir = await tempDir(t, "semail-fault-eio-");
  const settings = testSettings(dir, { maxMessageSize: 1 << 20 });
  const mailRoot = settings.inbound.mailRoot;
  await writeFile(settings.users, usersYaml(USERS));
  await provision(mailRoot, USERS);
  const rootOf = (owner: string) => path.join(mailRoot, owner);
  const inbox = (owner: string) => path.join(rootOf(owner), "INBOX");

  // Which mailboxes fail now, and where: every file under their root.
  const broken = { write: new Set<string>(), fsync: new Set<string>() };
  const failing = (kind: "write" | "fsync", file: string) =>
    [...broken[kind]].some((owner) => file.startsWith(`${rootOf(owner)}${path.sep}`));
  const faults: FaultInjector = {
    beforeWrite: (file) => (failing("write", file) ? faultError("EIO", file) : undefined),
    beforeFsync: (file) => (failing("fsync", file) ? faultError("EIO", file) : undefined),
  };
  const log: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) log.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const daemon = await startInbound(settings, {
    logger: createLogger("info", "inbound", sink),
    limits: { closeTimeoutMs: 200 },
    faults,
  });
  t.after(() => daemon.stop());
  const port = daemon.addresses[0]!.boundPort;
  const ledger = new Ledger();
  let n = 0;
  const send = (owner: string) => sendTagged(port, ledger, ++n, `${owner}@semail.test`, BYTES);

  // Before the fault: every mailbox takes mail.
  for (const owner of [...FAILING, HEALTHY]) for (let i = 0; i < 3; i++) assert.equal((await send(owner)).code, 250);
  const before = await Promise.all(FAILING.map((owner) => mailboxFiles(rootOf(owner))));

  // EIO on write, then on fsync: concurrent messages (several share a batch), bob's among them.
  for (const kind of ["write", "fsync"] as const) {
    for (const owner of FAILING) broken[kind].add(owner);
    const wave = Array.from({ length: PER_FAULT }, () => [...FAILING, HEALTHY]).flat();
    const replies = await Promise.all(wave.map(async (owner) => ({ owner, reply: await send(owner) })));
    for (const { owner, reply } of replies) {
      if (owner === HEALTHY) assert.equal(reply.code, 250, `${HEALTHY} is unaffected: ${reply.text}`);
      else {
        assert.equal(reply.code, 451, `EIO on ${kind} for ${owner}: ${reply.code} ${reply.text}`);
        assert.match(reply.text, /^4\.\d{1,3}\.\d{1,3} /);
      }
    }
    broken[kind].clear();
  }
  const after = await Promise.all(FAILING.map((owner) => mailboxFiles(rootOf(owner))));
  assert.deepEqual(after, before, "the failing mailboxes' files are byte for byte as before");

  // Once per mailbox, though 2 × PER_FAULT messages failed in each.
  const errors = log.filter((line) => line.level >= 50);
  assert.deepEqual(
    errors.map((line) => [line.root, line.err?.code]).sort(),
    FAILING.map((owner) => [rootOf(owner), "EIO"]),
    `one error per failing mailbox, not ${errors.length}: ${errors
      .map((line) => line.msg)
      .join("; ")
      .slice(0, 500)}`,
  );

  // Cleared (the broken sets are empty): the next message to a failing mailbox is stored.
  const cleared = Date.now();
  const recoveryMs = await untilValue(
    async () => {
      if ((await send(FAILING[0])).code !== 250) return undefined;
      const found = (await tagsIn([inbox(FAILING[0])])).has(`fault-${n}`);
      return found ? Date.now() - cleared : undefined;
    },
    "a message 250'd and delivered after the fault is cleared",
    30_000,
    100,
  );
  assert.equal((await send(FAILING[1])).code, 250);
  // Each message failed in INBOX on write; on fsync in INBOX and in its folder, both written by then.
  const recovered = log.filter((line) => line.msg === "appends to this mailbox succeed again");
  assert.deepEqual(
    recovered.map((line) => [line.root, line.failedAppends]).sort(),
    FAILING.map((owner) => [rootOf(owner), 3 * PER_FAULT]),
  );

  const arrivals = await tagsIn([...FAILING, HEALTHY].map(inbox));
  await recordOutcome({
    fault: "EIO on write, then fsync (injected), 2 mailboxes",
    ...ledger.tally(arrivals),
    recoveryMs,
    note: `${ledger.refusalSummary()}; logged ${errors.length} errors for ${FAILING.length} mailboxes`,
  });
});
