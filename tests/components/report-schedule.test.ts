// The daily report on the VM under Pulumi's mocks: on by default, a timer on semail:reportSchedule
// that runs `semail report --summary --mail` in the daemons image with the daemons' own settings,
// inbound's network and process namespace, the paths it reads and the Docker socket for the
// logs (the unit's command run for real by sh, with a stand-in docker that records its
// arguments); reportSchedule "" makes none; a bad one is named with how to fix it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import { ReportSchedule, reportUnits, type ReportScheduleArgs } from "../../components/report-schedule.ts";
import { parseSettings } from "../../config/settings.ts";
import { parseReportStackSettings } from "../../config/stack/report-stack-settings.ts";
import { inputsOf, record } from "../../testkit/pulumi-mocks/harness.ts";
import { CAROL, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const run = promisify(execFile);

function args(over: Partial<ReportScheduleArgs> = {}): ReportScheduleArgs {
  return {
    vm: { host: "192.0.2.10", user: "root" },
    image: "sha256:abc",
    settings: "hostname: mx.semail.email\n",
    configDir: "/etc/semail/report",
    mailRoot: "/var/mail/semail",
    usersDir: "/etc/semail",
    spool: "/var/spool/semail",
    tlsCert: "/etc/semail/tls/fullchain.pem",
    tlsKey: "/etc/semail/tls/privkey.pem",
    onCalendar: "*-*-* 06:00",
    ...over,
  };
}

test("the component writes the settings and a timer that runs the report; deleting it stops the timer", async () => {
  const { resources } = await record({}, [], () => new ReportSchedule("report", args()));
  const settings = inputsOf(resources, "report-settings");
  assert.equal(settings.stdin, "hostname: mx.semail.email\n");
  assert.match(settings.create, /install -d -m 0700/);
  const timer = inputsOf(resources, "report-timer");
  assert.match(timer.stdin, /semail-report\.service/);
  assert.match(timer.stdin, /OnCalendar=\*-\*-\* 06:00/);
  assert.match(timer.stdin, /systemctl enable --now semail-report\.timer/);
  assert.match(timer.delete, /systemctl disable --now semail-report\.timer/);
  assert.throws(() => new ReportSchedule("bad", args({ onCalendar: "daily\nExecStart=x" })), /reportSchedule: /);
});

test("the service's command, run by sh: docker gets the report's whole invocation, word for word", async (t) => {
  const dir = await tempDir(t, "semail-report-unit-");
  await mkdir(join(dir, "bin"));
  // A stand-in docker: one argument a line.
  await writeFile(join(dir, "bin", "docker"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${join(dir, "argv")}\n`, {
    mode: 0o755,
  });
  const { service, timer } = reportUnits(args(), "sha256:abc");
  const exec = service
    .split("\n")
    .find((l) => l.startsWith("ExecStart="))!
    .slice("ExecStart=".length);
  assert.match(exec, /^\/usr\/bin\/docker /);
  await run("sh", ["-c", exec.replace(/^\/usr\/bin\/docker/, "docker")], {
    env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` },
  });
  const argv = (await readFile(join(dir, "argv"), "utf8")).trimEnd().split("\n");
  const after = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
  assert.deepEqual(after("--network"), ["container:semail-inbound"]);
  assert.deepEqual(after("--pid"), ["container:semail-inbound"], "the store must see inbound's writers");
  assert.deepEqual(after("-v").sort(), [
    "/etc/semail/report:/etc/semail/report:ro",
    "/etc/semail/tls/fullchain.pem:/etc/semail/tls/fullchain.pem:ro",
    "/etc/semail/tls/privkey.pem:/etc/semail/tls/privkey.pem:ro",
    "/etc/semail:/etc/semail:ro",
    "/var/mail/semail:/var/mail/semail:rslave",
    "/var/run/docker.sock:/var/run/docker.sock",
    "/var/spool/semail:/var/spool/semail:ro",
  ]);
  assert.deepEqual(argv.slice(argv.indexOf("sha256:abc")), [
    "sha256:abc",
    "report",
    "--config",
    "/etc/semail/report/semail.yaml",
    "--summary",
    "--since",
    "24h",
    "--log",
    "docker:semail-inbound",
    "--log",
    "docker:semail-outbound",
    "--mail",
  ]);
  assert.match(timer, /^Persistent=true$/m);
});

test("the stack: a daily report by default with the daemons' settings; none with reportSchedule empty", async () => {
  const on = await runStack(usersYaml(CAROL));
  assert.equal(on.resources.filter((r) => r.type === "semail:infra:ReportSchedule").length, 1);
  const settings = parseSettings(parse(inputsOf(on.resources, "report-settings").stdin as string), "the report's");
  assert.equal(settings.inbound.mailRoot, "/var/mail/semail");
  assert.equal(settings.managedDomain, "semail.email");
  assert.match(inputsOf(on.resources, "report-timer").stdin as string, /^OnCalendar=daily$/m);

  const off = await runStack(usersYaml(CAROL), { reportSchedule: "" });
  assert.equal(
    off.resources.some((r) => r.type === "semail:infra:ReportSchedule"),
    false,
  );
  const at = await runStack(usersYaml(CAROL), { reportSchedule: "*-*-* 06:00" });
  assert.match(inputsOf(at.resources, "report-timer").stdin as string, /^OnCalendar=\*-\*-\* 06:00$/m);
});

test("a bad reportSchedule is named with how to fix it", () => {
  assert.deepEqual(parseReportStackSettings({ reportSchedule: "" }).problems, []);
  assert.deepEqual(parseReportStackSettings({ reportSchedule: "Mon *-*-* 06:00" }).problems, []);
  assert.match(
    parseReportStackSettings({ reportSchedule: "daily; rm -rf /" }).problems.join("\n"),
    /^semail:reportSchedule "daily; rm -rf \/" is not a systemd OnCalendar .*\(pulumi config set reportSchedule daily\)$/,
  );
});
