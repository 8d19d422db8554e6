// `semail restore --mailbox` against the real inbound daemon on a real (loop-mounted ext4)
// mailbox filesystem: mail delivered, backed up with real restic, the filesystem wiped and
// provisioned again, then restored while the daemon keeps delivering to that mailbox: every saved
// byte comes back in place, and every message that got a 250 meanwhile is there once, after it.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { PROVISIONED_MARKER } from "../../../config/mailbox-layout.ts";
import { runBackup, restoreMailbox } from "../../../services/backup/index.ts";
import { lockFilesBelow } from "../../../services/backup/mailbox-files.ts";
import { startFixture, readMbox } from "../../mailservers/inbound/fixture.ts";
import { mountedExt4, provisionRoot } from "../../mailservers/inbound/store/fixture.ts";
import { backupSection, deliver, filesBelow, keepDelivering } from "./fixture.ts";

const ADA = "ada@semail.test";
const SOW = "souleymane@sow.semail.test";

describe("semail restore --mailbox", () => {
  it("puts a wiped mailbox filesystem back byte for byte while the daemon delivers to it", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "semail-restore-"));
    const mailRoot = path.join(dir, "mail");
    const mounted = await mountedExt4(t, 32 << 20, path.join(mailRoot, "ada"));
    // Registered after the mount, so it runs after the unmount.
    t.after(() => rm(dir, { recursive: true, force: true }));
    if (typeof mounted !== "string") return t.skip(mounted.skip);
    const adaRoot = mounted;
    await provisionRoot(mailRoot, "ada");
    await writeFile(path.join(adaRoot, PROVISIONED_MARKER), "");
    const f = await startFixture(t, {
      inbound: { mailRoot },
      settings: { backup: await backupSection(path.join(dir, "backup")) },
    });

    for (let i = 0; i < 5; i++) assert.ok(await deliver(f.port, ADA, `before-${i}`));
    for (let i = 0; i < 3; i++) assert.ok(await deliver(f.port, SOW, `sow-${i}`));
    const status = await runBackup(f.settings);
    assert.equal(status.outcome, "ok", String(status.error));
    assert.equal(status.mailboxes, 4, "ada, sow, ext and the daemon's own postmaster");
    const saved = await filesBelow(adaRoot);
    assert.ok(
      saved.get("INBOX")!.length > 0 && [...saved.keys()].some((k) => k.startsWith("mail/")),
      [...saved.keys()].join(),
    );

    // The filesystem's content is lost; provisioning makes it ready again, empty.
    for (const name of await readdir(adaRoot)) await rm(path.join(adaRoot, name), { recursive: true });
    await provisionRoot(mailRoot, "ada");
    await writeFile(path.join(adaRoot, PROVISIONED_MARKER), "");

    const toAda = keepDelivering(f.port, ADA, "during");
    const toSow = keepDelivering(f.port, SOW, "sow-during");
    let placed;
    try {
      placed = await restoreMailbox(f.settings, "ada");
      // A few more after the restore, so some surely come after the restored content.
      for (let i = 0; i < 3; i++) assert.ok(await deliver(f.port, ADA, `after-${i}`));
    } finally {
      toAda.stop();
      toSow.stop();
    }
    const accepted = [...(await toAda.done), "after-0", "after-1", "after-2"];
    const acceptedSow = await toSow.done;
    t.diagnostic(`restore: ${JSON.stringify(placed.mailboxes)}; ${accepted.length} delivered to ada meanwhile`);

    const now = await filesBelow(adaRoot);
    for (const [file, bytes] of saved) {
      if (file === PROVISIONED_MARKER) continue;
      const live = now.get(file);
      assert.ok(live, `${file} is back`);
      assert.ok(live.subarray(0, bytes.length).equals(bytes), `${file} starts with every saved byte`);
    }
    const subjects = (await readMbox(path.join(adaRoot, "INBOX"))).map((m) => m.subject);
    assert.deepEqual(subjects.slice(0, 5), ["before-0", "before-1", "before-2", "before-3", "before-4"]);
    assert.deepEqual(subjects.slice(5).sort(), [...accepted].sort(), "each message accepted meanwhile is there once");
    // The other mailbox was served throughout.
    const sowSubjects = (await readMbox(f.inbox("sow"))).map((m) => m.subject);
    assert.deepEqual(sowSubjects, ["sow-0", "sow-1", "sow-2", ...acceptedSow]);
    assert.deepEqual(await lockFilesBelow(mailRoot), [], "no lock is left behind");
  });

  it("refuses a mailbox the snapshot does not hold, and an id that is not one", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "semail-restore-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const f = await startFixture(t, { settings: { backup: await backupSection(dir) } });
    assert.equal((await runBackup(f.settings)).outcome, "ok");
    await assert.rejects(restoreMailbox(f.settings, "nobody"), /holds no mailbox "nobody"/);
    await assert.rejects(restoreMailbox(f.settings, "../ada"), /is not a mailbox id/);
    await assert.rejects(restoreMailbox(f.settings, "ada", "deadbeef"), /no snapshot deadbeef/);
  });
});
