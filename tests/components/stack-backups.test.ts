// The backups in the stack under Pulumi's mocks: none without semail:backupRepository; with it
// and the secret backupPassword, a BackupSchedule with the VM's own paths (the ones the daemons
// use), the schedule and the retention, the password never in plain text; a repository without
// the secret is refused, naming it. (tests/components/backup-schedule.test.ts tests the component.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { stackProblems } from "../../components/stack.ts";
import { parseSettings } from "../../config/settings.ts";
import { parseStackConfig } from "../../config/stack/stack-config.ts";
import { findResource, inputsOf, plainOccurrences, SECRET_SIG } from "../../testkit/pulumi-mocks/harness.ts";
import { baseConfig, CAROL, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";

const PASSWORD = "STACKRESTICPASSWORD";

test("the stack: no backups without backupRepository; with it and the secret, the VM's paths on the schedule, the password only as a secret", async () => {
  const none = await runStack(usersYaml(CAROL));
  assert.equal(
    none.resources.some((r) => r.type === "semail:infra:BackupSchedule"),
    false,
  );

  const { resources } = await runStack(usersYaml(CAROL), {
    backupRepository: "sftp:backup@192.0.2.20:/semail",
    backupSchedule: "*-*-* 03:30",
    backupKeepDaily: "10",
    backupPassword: PASSWORD,
  });
  assert.equal(resources.filter((r) => r.type === "semail:infra:BackupSchedule").length, 1);
  for (const r of resources) assert.deepEqual(plainOccurrences(r.inputs, PASSWORD), [], r.name);
  assert.equal(JSON.stringify(findResource(resources, "backup-password").inputs.stdin).includes(SECRET_SIG), true);
  assert.equal(inputsOf(resources, "backup-password").stdin, PASSWORD);

  const settings = parseSettings(parse(inputsOf(resources, "backup-settings").stdin as string), "the stack's backup");
  assert.equal(settings.backup.repository, "sftp:backup@192.0.2.20:/semail");
  assert.equal(settings.users, "/etc/semail/users.yaml");
  assert.equal(settings.inbound.mailRoot, "/var/mail/semail");
  assert.equal(settings.outbound.spool, "/var/spool/semail");
  assert.deepEqual(
    [settings.tls.cert, settings.tls.key],
    ["/etc/semail/tls/fullchain.pem", "/etc/semail/tls/privkey.pem"],
  );
  assert.deepEqual(settings.backup.paths, ["/etc/semail/dkim", "/etc/semail/acme", "/var/lib/semail/acme"]);
  assert.deepEqual([settings.backup.keepDaily, settings.backup.keepWeekly, settings.backup.keepMonthly], [10, 4, 12]);
  // The local slapd is dumped from its container.
  assert.deepEqual(settings.backup.slapcat, ["cat", "/var/lib/semail/backup/directory-dump.ldif"]);
  const timer = inputsOf(resources, "backup-timer").stdin as string;
  assert.match(timer, /OnCalendar=\*-\*-\* 03:30/);
  assert.match(timer, /docker exec .?semail-ldap.? slapcat -b .?dc=semail,dc=email/);
  assert.match(timer, /backup --config \/etc\/semail\/backup\/semail\.yaml/);

  // An external directory is not dumped here.
  const external = await runStack(usersYaml(CAROL), {
    backupRepository: "/srv/backup/semail",
    backupPassword: PASSWORD,
    ldapUrl: "ldaps://ldap.example.net",
  });
  assert.doesNotMatch(inputsOf(external.resources, "backup-timer").stdin as string, /slapcat/);
});

test("the stack: a backupRepository without the secret backupPassword is refused, naming it", () => {
  const config = parseStackConfig((key) => baseConfig({ backupRepository: "/srv/backup/semail" })[`semail:${key}`]);
  assert.deepEqual(stackProblems(config, { sshPrivateKey: "k", ldapPassword: "p" }), [
    "semail:backupPassword is required when semail:backupRepository is set: restic encrypts the repository with it (pulumi config set --secret backupPassword PASSWORD)",
  ]);
  assert.deepEqual(stackProblems(config, { sshPrivateKey: "k", ldapPassword: "p", backupPassword: "x" }), []);
});
