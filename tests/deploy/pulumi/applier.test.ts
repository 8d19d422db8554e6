// The real Pulumi applier against a stand-in `pulumi` CLI (the real one and its cloud
// cannot run here): which commands it runs, with Node 26 first in PATH; a failed
// `pulumi up` becomes a short reason; a stack reading another users list is refused.
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { UsersList } from "../../../config/users-list.ts";
import { createPulumiApplier } from "../../../deploy/pulumi/applier.ts";
import { webmailLink } from "../../../webform/mail-access.ts";
import { deployedTransport } from "../../../webform/transport-records.ts";
import { DEFAULT_TRANSPORT_SECURITY } from "../../../config/stack/transport-security.ts";
import { baseConfig } from "../../../testkit/pulumi-mocks/stack-fixtures.ts";
import { ApplyRunner } from "../../../webform/apply-runner.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

/** A `pulumi` that logs each call and answers like the real one; `up` fails when up-fails exists; `stack output` prints outputs. */
const FAKE_PULUMI = `#!/bin/sh
here=$(dirname "$0")/..
echo "$*" >> "$here/calls"
case "$1 $2" in
  "version "*) echo "v3.200.0" ;;
  "stack select") ;;
  "config get") if [ -f "$here/users-list" ]; then printf '{"value":"%s","secret":false}\\n' "$(cat "$here/users-list")"; else echo "error: configuration key 'semail:usersList' not found for stack 'prod'" >&2; exit 255; fi ;;
  "up "*)
    printf '%s\\n' "$PATH" > "$here/up-path"
    if [ -f "$here/up-fails" ]; then
      echo "Updating (prod)" ; echo "error: update failed" >&2; echo "  command:local:Command (mailbox-alice): error: lvcreate: Volume group \\"semail\\" has insufficient free space" >&2; exit 255
    fi
    echo "Resources: 12 unchanged" ;;
  "stack output") if [ -f "$here/outputs" ]; then cat "$here/outputs"; else echo "{}"; fi ;;
  "config --show-secrets") if [ -f "$here/config" ]; then cat "$here/config"; else echo "{}"; fi ;;
  "stack history") echo "[]" ;;
  *) echo "fake pulumi: unexpected $*" >&2; exit 2 ;;
esac
`;

async function fakeCli(t: TestContext): Promise<{ root: string; project: string }> {
  const root = await tempDir(t, "semail-fake-pulumi-");
  await mkdir(join(root, "bin"));
  await writeFile(join(root, "bin/pulumi"), FAKE_PULUMI);
  await chmod(join(root, "bin/pulumi"), 0o755);
  const project = join(root, "project");
  await mkdir(project);
  await writeFile(join(project, "Pulumi.yaml"), "name: semail\nruntime: nodejs\n");
  return { root, project };
}

async function applyOnce(applier: ReturnType<typeof createPulumiApplier>) {
  const runner = new ApplyRunner({ applier, load: async () => new UsersList([]), logger: silentLogger() });
  runner.request("test");
  await runner.idle();
  return runner.status();
}

test("an apply selects the stack and runs pulumi up with the program inline (no language host)", async (t) => {
  const { root, project } = await fakeCli(t);
  const status = await applyOnce(
    createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: root, usersFile: join(project, "users.yaml") }),
  );
  assert.equal(status.state, "done", String(status.reason));
  const calls = (await readFile(join(root, "calls"), "utf8")).trim().split("\n");
  assert.ok(
    calls.some((c) => /^stack select --stack prod/.test(c)),
    calls.join("\n"),
  );
  assert.ok(calls.some((c) => /^config get semail:usersList --json --stack prod/.test(c)));
  const up = calls.find((c) => c.startsWith("up "));
  assert.ok(up, "pulumi up ran");
  assert.match(up, /--yes/);
  assert.match(up, /--stack prod/);
  // The engine dials the program's language server in this process: no pulumi-language-nodejs.
  assert.match(up, /--client=127\.0\.0\.1:\d+ --exec-kind auto\.inline/);
  // The dynamic-provider plugin that ships in the npm package is on the engine's PATH.
  const path = (await readFile(join(root, "up-path"), "utf8")).trim().split(":");
  assert.ok(path.includes(join(project, "node_modules", "@pulumi", "pulumi")), `PATH: ${path.join(":")}`);
});

test("a failed pulumi up is reported by its error lines", async (t) => {
  const { root, project } = await fakeCli(t);
  await writeFile(join(root, "up-fails"), "");
  const status = await applyOnce(createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: root }));
  assert.equal(status.state, "failed");
  assert.match(
    status.reason ?? "",
    /^pulumi up of stack "prod" failed: error: update failed \/ command:local:Command \(mailbox-alice\): error: lvcreate: Volume group "semail" has insufficient free space$/,
  );
});

test("a stack that reads another users list than the form writes is refused before any update", async (t) => {
  const { root, project } = await fakeCli(t);
  await writeFile(join(root, "users-list"), "config/other-users.yaml");
  const status = await applyOnce(
    createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: root, usersFile: join(project, "users.yaml") }),
  );
  assert.equal(status.state, "failed");
  assert.match(
    status.reason ?? "",
    /reads the users list .*config\/other-users\.yaml \(semail:usersList\) but the form writes .*\/project\/users\.yaml \(setting users\)/,
  );
  const calls = await readFile(join(root, "calls"), "utf8");
  assert.doesNotMatch(calls, /^up /m);
});

test("the SSH line of an owner's container comes from the stack's outputs, before any up and after each", async (t) => {
  const { root, project } = await fakeCli(t);
  const line = (ip: string) => `ssh -J semail-jump@203.0.113.10 alice@${ip}`;
  await writeFile(
    join(root, "outputs"),
    JSON.stringify({ userSshCommands: { alice: line("172.30.0.5") }, vmAddress: "203.0.113.10" }),
  );
  const applier = createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: root });
  assert.equal(await applier.sshCommand?.("alice"), line("172.30.0.5"), "read from the stack when the form starts");
  assert.equal(await applier.sshCommand?.("bob"), undefined, "no line for an owner without a container");

  // A new container address after an up (a reboot gives new ones) replaces the old line.
  await writeFile(
    join(root, "outputs"),
    JSON.stringify({
      userSshCommands: { alice: line("172.30.0.9"), bob: "ssh -J semail-jump@203.0.113.10 bob@172.30.0.6" },
    }),
  );
  assert.equal((await applyOnce(applier)).state, "done");
  assert.equal(await applier.sshCommand?.("alice"), line("172.30.0.9"));
  assert.match((await applier.sshCommand?.("bob")) ?? "", /^ssh -J semail-jump@203\.0\.113\.10 bob@/);
});

test("without a Pulumi CLI there is no SSH line, and no error on the page", async (t) => {
  const { project } = await fakeCli(t);
  const applier = createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: join(project, "no-such-cli") });
  assert.equal(await applier.sshCommand?.("alice"), undefined);
});

test("the webmail link: web.webmailUrl when set, else the stack's webmailUrl output; none without one", async (t) => {
  const deployed = await fakeCli(t);
  await writeFile(
    join(deployed.root, "outputs"),
    JSON.stringify({ webmailUrl: "https://mx.semail.email/", vmAddress: "203.0.113.10" }),
  );
  const applier = createPulumiApplier({ projectDir: deployed.project, stack: "prod", cliRoot: deployed.root });
  assert.equal(await webmailLink({}, applier, 60_000), "https://mx.semail.email/");
  assert.equal(
    await webmailLink({ webmailUrl: "https://webmail.example.org/" }, applier, 60_000),
    "https://webmail.example.org/",
    "the setting wins",
  );

  const none = await fakeCli(t);
  assert.equal(
    await webmailLink({}, createPulumiApplier({ projectDir: none.project, stack: "prod", cliRoot: none.root }), 60_000),
    undefined,
    "a stack that runs no webmail",
  );
  assert.equal(
    await webmailLink(
      {},
      createPulumiApplier({ projectDir: none.project, stack: "prod", cliRoot: join(none.project, "no-such-cli") }),
      60_000,
    ),
    undefined,
    "no Pulumi CLI",
  );
  assert.equal(
    await webmailLink({}, { webmailUrl: () => new Promise(() => undefined) }, 50),
    undefined,
    "an applier that does not answer in time",
  );
});

test("the MTA-STS and TLS-RPT settings the form shows come from the stack's config; a config the program would refuse gives the defaults, with why", async (t) => {
  const { root, project } = await fakeCli(t);
  const config = (settings: Record<string, string>) =>
    writeFile(
      join(root, "config"),
      JSON.stringify(Object.fromEntries(Object.entries(settings).map(([k, value]) => [k, { value, secret: false }]))),
    );
  await config(baseConfig({ mtaStsMode: "testing", mtaStsMaxAge: "86400", tlsRptRua: "mailto:tls@example.net" }));
  const applier = createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: root });
  assert.deepEqual(await applier.transportSecurity?.(), {
    mtaStsMode: "testing",
    mtaStsMaxAge: 86400,
    tlsRptRua: "mailto:tls@example.net",
  });
  await config(baseConfig({ mtaStsMode: "strict" }));
  const refused = await deployedTransport(
    createPulumiApplier({ projectDir: project, stack: "prod", cliRoot: root }),
    60_000,
  );
  assert.equal(refused.transport, DEFAULT_TRANSPORT_SECURITY);
  assert.match(refused.problem ?? "", /semail:mtaStsMode "strict" is not valid/);
});
