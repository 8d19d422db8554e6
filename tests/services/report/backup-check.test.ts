// The report's backup check against status.json as `semail backup` writes it: WARN when no
// backup is configured, FAIL when none ran, the last failed or is older than two days, OK else.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { writeBackupStatus, type BackupStatus } from "../../../services/backup/status.ts";
import { backupFindings } from "../../../services/report/checks/backup.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const NOW = new Date("2026-12-07T12:00:00Z");
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString();

async function configured(t: Parameters<typeof tempDir>[0], status?: BackupStatus): Promise<Settings> {
  const dir = await tempDir(t, "semail-backup-check-");
  if (status) await writeBackupStatus(dir, status);
  return parseSettings(
    { backup: { repository: path.join(dir, "repo"), passwordFile: path.join(dir, "pw"), stateDir: dir } },
    "test",
  );
}

const summary = async (settings: Settings) =>
  (await backupFindings(settings, NOW)).map((f) => `${f.status} ${f.detail}`).join("\n");

describe("the report's backup check", () => {
  it("warns when no backup is configured", async () => {
    const findings = await backupFindings(parseSettings({}, "test"), NOW);
    assert.deepEqual(
      findings.map((f) => [f.status, f.subject]),
      [["WARN", "backup.repository"]],
    );
    assert.match(findings[0]!.fix!, /backup\.passwordFile/);
  });

  it("fails when none has run yet", async (t) => {
    assert.match(await summary(await configured(t)), /^FAIL no backup has run yet$/);
  });

  it("fails when the last one failed, naming the error and the last good one", async (t) => {
    const settings = await configured(t, {
      outcome: "failed",
      at: hoursAgo(1),
      error: "restic backup failed (exit 1): repository is locked",
      lastSuccessAt: hoursAgo(25),
    });
    assert.match(
      await summary(settings),
      /^FAIL the last backup .* failed: restic backup failed .*locked; the last good one is from /,
    );
  });

  it("fails when the last one is older than two days, and is OK within them", async (t) => {
    const old = await configured(t, { outcome: "ok", at: hoursAgo(49), snapshot: "0011aabb", mailboxes: 2 });
    assert.match(await summary(old), /^FAIL the last backup is 2 days old .*snapshot 0011aabb/);
    const fresh = await configured(t, { outcome: "ok", at: hoursAgo(47), snapshot: "2233ccdd", mailboxes: 2 });
    assert.match(await summary(fresh), /^OK snapshot 2233ccdd at .*, 2 mailboxes$/);
  });
});
