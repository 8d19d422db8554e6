// The backup and ban stack settings as plain functions: their defaults, and each bad value named
// with how to fix it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BACKUP_SETTINGS, parseBackupStackSettings } from "../../../config/stack/backup-stack-settings.ts";
import { BAN_SETTINGS, parseBanStackSettings } from "../../../config/stack/ban-stack-settings.ts";

const backupDefaults = () =>
  Object.fromEntries(Object.entries(BACKUP_SETTINGS).map(([k, [v]]) => [k, v])) as Record<
    keyof typeof BACKUP_SETTINGS,
    string
  >;

test("backups: off by default, daily, keeping 7, 4 and 12", () => {
  const { settings, problems } = parseBackupStackSettings(backupDefaults());
  assert.deepEqual(problems, []);
  assert.deepEqual(settings, {
    backupRepository: "",
    backupSchedule: "daily",
    backupKeepDaily: 7,
    backupKeepWeekly: 4,
    backupKeepMonthly: 12,
  });
});

test("backups: a bad schedule, count or repository is named with how to fix it", () => {
  const { problems } = parseBackupStackSettings({
    ...backupDefaults(),
    backupRepository: "/srv/backup\nExecStart=x",
    backupSchedule: "daily; rm -rf /",
    backupKeepWeekly: "-1",
  });
  assert.deepEqual(
    problems.map((p) => p.split(" ")[0]),
    ["semail:backupKeepWeekly", "semail:backupRepository", "semail:backupSchedule"],
  );
  assert.ok(problems.every((p) => p.includes("(pulumi config set ")));
});

test("bans: on by default with nothing extra allowed; banAllow takes CIDRs and addresses", () => {
  assert.deepEqual(parseBanStackSettings({ banEnabled: BAN_SETTINGS.banEnabled[0], banAllow: "" }), {
    settings: { banEnabled: true, banAllow: [] },
    problems: [],
  });
  assert.deepEqual(
    parseBanStackSettings({ banEnabled: "false", banAllow: "198.51.100.0/24, 203.0.113.7 2001:db8::/32,203.0.113.7" })
      .settings,
    { banEnabled: false, banAllow: ["198.51.100.0/24", "203.0.113.7/32", "2001:db8::/32"] },
  );
});

test("bans: a bad switch or network is named with how to fix it", () => {
  const { problems } = parseBanStackSettings({ banEnabled: "yes", banAllow: "10.0.0.0/33,example.net" });
  assert.deepEqual(
    problems.map((p) => p.split(" ").slice(0, 2).join(" ")),
    ['semail:banEnabled "yes"', 'semail:banAllow "10.0.0.0/33"', 'semail:banAllow "example.net"'],
  );
});
