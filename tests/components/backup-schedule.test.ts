// The backup timer on the VM under Pulumi's mocks: the repository's password travels only as a
// secret and lands root-only; `semail backup` gets settings it takes as they are, naming what to
// back up; the service dumps the directory from its container before the backup (run here for
// real by sh, with a stand-in docker) and runs `semail backup` in the daemons image with every
// path it reads mounted; the timer keeps the schedule; bad settings name the config key to fix.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import {
  BackupSchedule,
  backupSettingsYaml,
  backupUnits,
  validateBackupSchedule,
  type BackupScheduleArgs,
} from "../../components/backup-schedule.ts";
import { parseSettings } from "../../config/settings.ts";
import { findResource, inputsOf, plainOccurrences, record, SECRET_SIG } from "../../testkit/pulumi-mocks/harness.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const run = promisify(execFile);
const PASSWORD = "RESTICPASSWORDSECRET";

function args(over: Partial<BackupScheduleArgs> = {}): BackupScheduleArgs {
  return {
    vm: { host: "192.0.2.10", user: "root" },
    image: "sha256:abc",
    repository: "/srv/backup/semail",
    password: pulumi.secret(PASSWORD),
    configDir: "/etc/semail/backup",
    stateDir: "/var/lib/semail/backup",
    mailRoot: "/var/mail/semail",
    usersFile: "/etc/semail/users/users.yaml",
    spool: "/var/spool/semail",
    tlsCert: "/etc/semail/tls/fullchain.pem",
    tlsKey: "/etc/semail/tls/privkey.pem",
    paths: ["/etc/semail/dkim", "/etc/semail/acme", "/var/lib/semail/acme"],
    directoryContainer: "semail-ldap",
    ldapBaseDn: "dc=semail,dc=email",
    onCalendar: "*-*-* 03:00",
    keep: { daily: 7, weekly: 4, monthly: 12 },
    ...over,
  };
}

test("the password is a secret written root-only; semail backup's settings are taken as they are", async () => {
  const { resources } = await record({}, [], () => new BackupSchedule("backup", args()));
  const password = findResource(resources, "backup-password");
  assert.equal(password.parent.endsWith("::backup"), true);
  assert.deepEqual(plainOccurrences(password.inputs, PASSWORD), [], "the password only inside a secret");
  assert.equal(JSON.stringify(password.inputs.stdin).includes(SECRET_SIG), true);
  const p = inputsOf(resources, "backup-password");
  assert.equal(p.stdin, PASSWORD);
  assert.match(p.create, /install -d -m 0700/);
  assert.match(p.create, /umask 077/);
  assert.doesNotMatch(p.create, new RegExp(PASSWORD));

  const yaml = parse(inputsOf(resources, "backup-settings").stdin as string);
  const settings = parseSettings(yaml, "the VM's backup settings");
  assert.equal(settings.backup.repository, "/srv/backup/semail");
  assert.equal(settings.backup.passwordFile, "/etc/semail/backup/restic-password");
  assert.deepEqual(settings.backup.slapcat, ["cat", "/var/lib/semail/backup/directory-dump.ldif"]);
  assert.deepEqual(settings.backup.paths, args().paths);
  assert.equal(settings.inbound.mailRoot, "/var/mail/semail");
  assert.deepEqual([settings.backup.keepDaily, settings.backup.keepWeekly, settings.backup.keepMonthly], [7, 4, 12]);

  const timer = inputsOf(resources, "backup-timer");
  assert.match(timer.stdin, /systemctl enable --now semail-backup\.timer/);
  assert.match(timer.stdin, /sha256:abc/);
  assert.match(timer.delete, /systemctl disable --now semail-backup\.timer/);
  assert.doesNotMatch(timer.delete, /srv\/backup/, "removing the schedule keeps the snapshots");
  assert.ok(findResource(resources, "backup-timer").dependencies.length > 0);
});

test("the service runs semail backup in the daemons image with every path it reads; the timer keeps the schedule", () => {
  const { service, timer } = backupUnits(args(), "sha256:abc");
  const exec = service.split("\n").find((l) => l.startsWith("ExecStart="))!;
  for (const path of [
    "/var/mail/semail",
    "/etc/semail/backup",
    "/var/spool/semail",
    "/etc/semail/dkim",
    "/srv/backup/semail",
  ])
    assert.ok(exec.includes(` -v ${path}:${path} `), path);
  assert.match(exec, /sha256:abc backup --config \/etc\/semail\/backup\/semail\.yaml$/);
  assert.doesNotMatch(service, new RegExp(PASSWORD));
  assert.match(timer, /^OnCalendar=\*-\*-\* 03:00$/m);
  assert.match(timer, /^Persistent=true$/m);
  const remote = backupUnits(args({ repository: "sftp:backup@192.0.2.20:/semail" }), "sha256:abc").service;
  assert.doesNotMatch(remote, /-v sftp:/, "a remote repository is not mounted");
  const none = backupUnits(args({ directoryContainer: "" }), "sha256:abc").service;
  assert.doesNotMatch(none, /slapcat/);
  assert.deepEqual(parse(backupSettingsYaml(args({ directoryContainer: "" }))).backup.slapcat, []);
});

test("the directory's dump, run for real by sh: slapcat in its container into the state folder, root-only, removed after", async (t) => {
  const dir = await tempDir(t, "semail-backup-unit-");
  const a = args({ stateDir: join(dir, "state") });
  const { service } = backupUnits(a, "sha256:abc");
  await mkdir(join(dir, "state"));
  await mkdir(join(dir, "bin"));
  // A stand-in docker: logs what it was asked and prints an LDIF.
  await writeFile(
    join(dir, "bin", "docker"),
    `#!/bin/sh\necho "$*" >> ${join(dir, "docker.log")}\nprintf 'dn: dc=semail,dc=email\\n\\n'\n`,
    { mode: 0o755 },
  );
  const env = { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` };
  const line = (key: string) =>
    service
      .split("\n")
      .find((l) => l.startsWith(`${key}=`))!
      .slice(key.length + 1);
  await run("sh", ["-c", line("ExecStartPre")], { env });
  const dump = join(dir, "state", "directory-dump.ldif");
  assert.equal(await readFile(dump, "utf8"), "dn: dc=semail,dc=email\n\n");
  assert.equal((await stat(dump)).mode & 0o777, 0o600);
  assert.equal(await readFile(join(dir, "docker.log"), "utf8"), "exec semail-ldap slapcat -b dc=semail,dc=email\n");
  await run("sh", ["-c", line("ExecStopPost")], { env });
  await assert.rejects(stat(dump), /ENOENT/);
});

test("bad backup settings name the config key to fix", async () => {
  assert.deepEqual(validateBackupSchedule(args()), []);
  assert.match(
    validateBackupSchedule(args({ repository: " " })).join("\n"),
    /backupRepository: give restic's repository/,
  );
  assert.match(validateBackupSchedule(args({ onCalendar: "daily\nExecStart=x" })).join("\n"), /backupSchedule: /);
  assert.match(
    validateBackupSchedule(args({ keep: { daily: -1, weekly: 4, monthly: 1 } })).join("\n"),
    /backupKeep: daily must be a whole number/,
  );
  assert.match(
    validateBackupSchedule(args({ paths: ["etc/x"] })).join("\n"),
    /backupPaths: "etc\/x" is not an absolute path/,
  );
  await assert.rejects(
    record({}, [], () => new BackupSchedule("backup", args({ repository: "" }))),
    /invalid backup settings:\n {2}backupRepository/,
  );
});
