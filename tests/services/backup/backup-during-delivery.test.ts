// A backup taken while the inbound daemon delivers, and while a mail reader holds a mailbox's
// lock: each mailbox is copied under its dotlocks, so the snapshot holds only whole messages,
// among them every one that got a 250 before the backup began; the copy waits for the reader's
// lock as the store does; and no lock of ours is left behind.
import assert from "node:assert/strict";
import { linkSync, unlinkSync, writeFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { runBackup } from "../../../services/backup/index.ts";
import { lockFilesBelow } from "../../../services/backup/mailbox-files.ts";
import { stagedMailbox } from "../../../services/backup/plan.ts";
import { restic, repositoryOf } from "../../../services/backup/restic.ts";
import { readMbox, startFixture } from "../../mailservers/inbound/fixture.ts";
import { until } from "../../../testkit/until.ts";
import { backupSection, deliver, keepDelivering } from "./fixture.ts";

const ADA = "ada@semail.test";

describe("semail backup while mail arrives", () => {
  it("copies whole messages only, every one accepted before it began", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "semail-backup-live-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const f = await startFixture(t, { settings: { backup: await backupSection(dir) } });
    for (let i = 0; i < 3; i++) assert.ok(await deliver(f.port, ADA, `first-${i}`));
    const sender = keepDelivering(f.port, ADA, "live");
    await until(async () => (await readMbox(f.inbox("ada"))).length >= 8, "the sender to be under way", 30_000);
    const before = (await readMbox(f.inbox("ada"))).map((m) => m.subject);
    let status;
    try {
      status = await runBackup(f.settings);
    } finally {
      sender.stop();
    }
    await sender.done;
    assert.equal(status.outcome, "ok", String(status.error));

    const out = path.join(dir, "restored");
    await restic(repositoryOf(f.settings.backup)!, ["restore", "latest", "--target", out]);
    const inbox = path.join(out, stagedMailbox(f.settings, "ada"), "INBOX");
    const saved = await readMbox(inbox);
    const subjects = saved.map((m) => m.subject);
    assert.deepEqual(subjects.slice(0, before.length), before, "every message delivered before the backup began");
    for (const m of saved) assert.equal(m.body.replace(/\s+$/, ""), `Body of ${m.subject}.`, "a whole message");
    assert.ok((await readFile(inbox)).toString("latin1").endsWith("\n"), "no torn last line");
    assert.deepEqual(await lockFilesBelow(f.mailRoot), []);
    assert.deepEqual(await lockFilesBelow(out), [], "no lock file in the snapshot");
  });

  it("refuses a password file others can read; fails naming a reader's lock not let go in time, succeeds once it is", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "semail-backup-locked-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const f = await startFixture(t, {
      inbound: { lockTimeout: "300ms" },
      settings: { backup: await backupSection(dir) },
    });
    assert.ok(await deliver(f.port, ADA, "one"));
    // The password file first: a secret others can read is refused.
    await chmod(f.settings.backup.passwordFile!, 0o644);
    const exposed = await runBackup(f.settings);
    assert.match(String(exposed.error), /backup\.passwordFile: .* is readable by others \(mode 644\): chmod 600 it/);
    await chmod(f.settings.backup.passwordFile!, 0o600);
    // A mail reader (mutt, Dovecot) holds ada's INBOX: its dotlock, made the liblockfile way.
    const mine = path.join(path.dirname(f.inbox("ada")), ".reader");
    writeFileSync(mine, "4242\n");
    linkSync(mine, `${f.inbox("ada")}.lock`);
    t.after(() => rm(`${f.inbox("ada")}.lock`, { force: true }));
    const failed = await runBackup(f.settings);
    assert.equal(failed.outcome, "failed");
    assert.match(failed.error!, /INBOX\.lock is held by someone else/);
    unlinkSync(`${f.inbox("ada")}.lock`);
    const good = await runBackup(f.settings);
    assert.equal(good.outcome, "ok", String(good.error));
    assert.equal(good.lastSuccessAt, good.at);
  });
});
