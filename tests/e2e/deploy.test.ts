// `npm run test:deploy`: the whole stack under the REAL Pulumi engine (the CLI built by the
// toolchain script, the program inline through the engine driver) onto an existing Debian host
// the test makes (testkit/rig/host: a VM-like container with systemd, sshd and its own dockerd).
// Only the provider binaries are stand-ins (testkit/rig/providers: none can be had here). Steps,
// each timed: up from empty state; mail in and a user's container reading it; a clean preview;
// a mailbox made and deleted on the web form; three kinds of drift seen and repaired; destroy.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { openEngine, type SemailEngine } from "../../deploy/pulumi/engine.ts";
import { createPulumiApplier } from "../../deploy/pulumi/applier.ts";
import { USERS_BRIDGE } from "../../components/users-network.ts";
import { createDirectory } from "../../directory/ldap.ts";
import { dockerEngine } from "../../testkit/docker.ts";
import { REPO_ROOT } from "../../testkit/repo-path.ts";
import { startTestSlapd, TEST_USERS } from "../helpers/slapd.ts";
import { SmtpClient } from "../helpers/smtp.ts";
import { until } from "../../testkit/until.ts";
import { makeKey } from "../../testkit/rig/providers/sshd-fixture.ts";
import { engineMissing, rigEngine } from "../../testkit/rig/engine.ts";
import { startRigHost, type RigHost } from "../../testkit/rig/host/index.ts";
import { startArchiveProxy } from "../../testkit/rig/archive-proxy.ts";
import { startSshAgent } from "../../testkit/rig/ssh-agent.ts";
import { loggedInClient, startForm, type Client } from "../webform/helpers.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const STACK = "rig";
const DOMAIN = "semail.test";

/** Runs `fn`, printing how long it took: the issue asks for each step's time. */
async function timed<T>(t: TestContext, name: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    const line = `deploy step: ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`;
    t.diagnostic(line);
    process.stderr.write(`${line}\n`);
  }
}

function skipReason(): string | undefined {
  if (needsRoot) return needsRoot;
  const missing = engineMissing();
  // In CI the engine must be there (.ci/run builds it): a skip there would hide a failure.
  if (missing !== undefined && process.env.CI === "true") return undefined;
  return missing;
}

/** Waits (bounded) until the form's apply is over, and asserts it is done. */
async function applied(client: Client, what: string): Promise<void> {
  const over = async () => {
    const status = await client.status();
    return status.state !== "queued" && status.state !== "applying" && !status.pending;
  };
  await until(over, what, 20 * 60_000);
  const status = await client.status();
  assert.equal(status.state, "done", `${what}: ${String(status.reason)}`);
}

/** A users list entry with the test's key for the container. */
function entry(owner: string, publicKey: string) {
  return { owner, address: `${owner}@${owner}.${DOMAIN}`, size: "64MiB", sshKeys: [publicKey] };
}

/** Sends one message to `rcpt` at the host's port 25; resolves with the final reply code. */
async function sendMail(host: string, rcpt: string, subject: string): Promise<number> {
  const smtp = await SmtpClient.connect(25, { host, timeoutMs: 30_000 });
  try {
    await smtp.command("EHLO rig-test.example");
    await smtp.command("MAIL FROM:<sender@example.org>");
    const rcptReply = await smtp.command(`RCPT TO:<${rcpt}>`);
    if (rcptReply.code !== 250) return rcptReply.code;
    await smtp.command("DATA");
    const reply = await smtp.command(
      `From: sender@example.org\r\nTo: ${rcpt}\r\nSubject: ${subject}\r\n\r\nhello from the rig\r\n.`,
    );
    return reply.code;
  } finally {
    smtp.close();
  }
}

test("the real engine deploys SEMail onto an existing host: up, mail, clean preview, the web form, drift, destroy", {
  skip: skipReason(),
  timeout: 75 * 60_000,
}, async (t) => {
  const rig = await timed(t, "engine (CLI + stand-in providers)", () => rigEngine(t));
  const docker = await dockerEngine();
  // t.after hooks run in the order they are registered: the host's own teardown (registered by
  // startRigHost) needs the engine, so the engine is let go after it.
  const host: RigHost = await timed(t, "rig host (image, container, sshd)", () =>
    startRigHost(t, { engine: docker }),
  ).catch(async (err: unknown) => {
    await docker.release();
    throw err;
  });
  t.after(() => docker.release());
  await timed(t, "the Debian base into the host's dockerd", () => host.loadImage("debian:bookworm-slim"));
  // The host has no way out; its image builds fetch Debian's packages through this machine.
  const gateway = (
    await docker.docker(["network", "inspect", host.network, "-f", "{{(index .IPAM.Config 0).Gateway}}"])
  ).trim();
  const archive = await startArchiveProxy(t, gateway);

  const scratch = await tempDir(t, "semail-deploy-");
  // The operator's part: a certificate where the daemons, Dovecot and nginx read it.
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ed25519",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=mx.${DOMAIN}`,
    "-addext",
    `subjectAltName=DNS:mx.${DOMAIN}`,
    "-keyout",
    join(scratch, "privkey.pem"),
    "-out",
    join(scratch, "fullchain.pem"),
  ]);
  await host.exec("install -d -m 0755 /etc/semail/tls");
  for (const file of ["fullchain.pem", "privkey.pem"]) {
    await host.exec(`cat > /etc/semail/tls/${file} && chmod 0644 /etc/semail/tls/${file}`, {
      input: await readFile(join(scratch, file)),
    });
  }

  // The users' key (their containers and the jump account) and the docker provider's ssh agent.
  const user = await makeKey(scratch, "user");
  const agent = await startSshAgent(t, host.privateKey);

  // The users list, inside the project (semail:usersList must be), git-ignored under var/.
  const listDir = `var/deploy-test-${process.pid}`;
  await mkdir(join(REPO_ROOT, listDir), { recursive: true });
  t.after(() => rm(join(REPO_ROOT, listDir), { recursive: true, force: true }));
  const usersFile = join(REPO_ROOT, listDir, "users.yaml");
  // A key belongs to one owner (the users list refuses a shared one): bob has his own.
  const bobKey = await makeKey(scratch, "bob");
  await writeFile(
    usersFile,
    stringify({ mailboxes: [entry("alice", user.publicKey), entry("bob", bobKey.publicKey)] }),
  );

  const workDir = join(scratch, "work");
  await mkdir(workDir);
  await copyFile(join(REPO_ROOT, "Pulumi.yaml"), join(workDir, "Pulumi.yaml"));
  const env = { ...rig.env, SSH_AUTH_SOCK: agent.socket, SEMAIL_RIG_BUILD_PROXY: archive.url };
  const engine: SemailEngine = await openEngine({
    projectDir: REPO_ROOT,
    stack: STACK,
    workDir,
    cliRoot: rig.cliRoot,
    env,
    createStack: true,
  });
  const plain = {
    vmProvider: "existing",
    vmIp: host.address,
    vmHostKey: host.hostKey,
    vmUser: "root",
    storageBackend: "image",
    managedDomain: DOMAIN,
    ldapBaseDn: "dc=semail,dc=test",
    usersList: `${listDir}/users.yaml`,
    defaultMailboxSize: "64MiB",
    // The test runs from the rig's network: it is the administrators' network the bans never touch.
    banAllow: host.address.replace(/\.\d+$/, ".0/24"),
  };
  await engine.stack.setAllConfig({
    ...Object.fromEntries(Object.entries(plain).map(([k, v]) => [`semail:${k}`, { value: v }])),
    "semail:sshPrivateKey": { value: host.privateKey, secret: true },
    "semail:ldapPassword": { value: "rig-ldap-Secret0", secret: true },
  });

  try {
    const lines: string[] = [];
    const progress = { onStep: (s: { op: string; name: string }) => lines.push(`${s.op} ${s.name}`) };

    // 1. up from empty state.
    const first = await timed(t, "1. up from empty state", () => engine.up(progress));
    assert.ok(first.changes.length > 30, `up created the stack (${first.changes.length} resources)`);
    for (const name of [
      "users-list",
      "users-firewall",
      "inbound-container",
      "outbound-container",
      "mailbox-alice-container",
      "mailbox-bob-container",
    ]) {
      assert.ok(
        first.steps.some((s) => s.name === name && s.op === "create"),
        `${name} created`,
      );
    }

    // 2. mail in, on the host's filesystem, and read in alice's own container through the jump.
    await timed(t, "2. a message lands in alice's mbox; her container reads it through ssh -J", async () => {
      assert.equal(await sendMail(host.address, `alice@alice.${DOMAIN}`, "rig one"), 250);
      const inbox = await host.exec("cat /var/mail/semail/alice/INBOX");
      assert.match(inbox, /^Subject: rig one$/m);
      const sshCommand = String((await engine.outputs()).userSshCommands?.value?.alice ?? "");
      const container = /alice@(\S+)/.exec(sshCommand)?.[1];
      assert.ok(container, `the stack names alice's container: ${sshCommand}`);
      // What `ssh -J semail-jump@VM alice@CONTAINER` does, with the options given to both hops
      // (-J's own ssh would not take them): the test's key, no known_hosts of the machine's.
      const options = [
        "-i",
        join(scratch, "user"),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
      ];
      const jump = ["ssh", ...options, "-W", "%h:%p", `semail-jump@${host.address}`].join(" ");
      const { stdout } = await run(
        "ssh",
        [...options, "-o", `ProxyCommand=${jump}`, `alice@${container}`, "grep -c '^Subject: rig one' /mail/INBOX"],
        { timeout: 60_000 },
      );
      assert.equal(stdout.trim(), "1");
    });

    // 3. no perpetual diff.
    const clean = await timed(t, "3. preview --expect-no-changes right after up", () =>
      engine.preview({ expectNoChanges: true }),
    );
    assert.deepEqual(clean.changes, []);

    // 4. a mailbox made on the web form is applied by the driver; deleted, it goes (its filesystem kept).
    await timed(t, "4. the web form: carol's mailbox made, live, then deleted", async () => {
      const carol = { uid: "carol", password: "carol-Secret4", cn: "Carol Example" };
      const slapd = await startTestSlapd({ users: [...TEST_USERS, carol] });
      t.after(() => slapd.stop());
      const directory = createDirectory(slapd.settings());
      t.after(() => directory.close());
      const applier = createPulumiApplier({
        projectDir: REPO_ROOT,
        stack: STACK,
        workDir,
        cliRoot: rig.cliRoot,
        env,
        usersFile,
      });
      const form = await startForm(t, {
        directory,
        applier,
        usersFile,
        web: { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } },
      });
      const client = await loggedInClient(form, carol.uid, carol.password);
      assert.equal(
        (await client.post("/mailbox", { localPart: carol.uid, kind: "subdomain", subdomain: carol.uid })).status,
        303,
      );
      await applied(client, "the form's apply of carol's mailbox");
      assert.equal(await sendMail(host.address, `${carol.uid}@${carol.uid}.${DOMAIN}`, "to carol"), 250);
      assert.match(await host.exec(`cat /var/mail/semail/${carol.uid}/INBOX`), /^Subject: to carol$/m);

      assert.equal((await client.post("/mailbox/delete", { owner: carol.uid })).status, 303);
      await applied(client, "the form's apply of the deletion");
      assert.equal(
        await host.exec(`docker ps -aq --filter name=semail-user-${carol.uid}`),
        "",
        "carol's container is gone",
      );
      assert.match(await host.exec(`ls /var/lib/semail/images`), new RegExp(`${carol.uid}`), "her filesystem is kept");
      assert.notEqual(
        await sendMail(host.address, `${carol.uid}@${carol.uid}.${DOMAIN}`, "after delete"),
        250,
        "her address takes no more mail",
      );
    });

    // 5. drift: each seen by `npm run drift` with the resource named, then repaired by up --refresh.
    const drift = async () => {
      const cliEnv = { ...process.env, ...env, SEMAIL_PULUMI_ROOT: rig.cliRoot };
      return run(
        process.execPath,
        [join(REPO_ROOT, "bin/semail.mjs"), "deploy", "drift", "--stack", STACK, "--work-dir", workDir],
        { env: cliEnv, timeout: 10 * 60_000, maxBuffer: 16 << 20 },
      ).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
    };
    const cases: Array<[string, string, string]> = [
      ["a managed file edited on the host", "users-list", "echo '# edited by hand' >> /etc/semail/users.yaml"],
      [
        "a user's container removed",
        "mailbox-alice-container",
        "docker rm -f $(docker ps -aq --filter name=semail-user-alice)",
      ],
      [
        "a firewall rule deleted",
        "users-firewall",
        `iptables -t mangle -D FORWARD -o ${USERS_BRIDGE} -j SEMAIL-USERS-FWD`,
      ],
    ];
    for (const [what, resource, change] of cases) {
      await timed(t, `5. drift: ${what}`, async () => {
        const before = await drift();
        assert.equal(before.code, 0, `no drift before: ${before.out}`);
        await host.exec(change);
        const seen = await drift();
        assert.equal(seen.code, 1, seen.out);
        assert.match(seen.out, new RegExp(`\\s${resource}\\b`), `drift names ${resource}`);
        assert.match(seen.out, /semail deploy up --refresh/);
        await engine.up({ refresh: true });
        const after = await drift();
        assert.equal(after.code, 0, `repaired: ${after.out}`);
      });
    }

    // 6. destroy: the host as it was, but for what the program keeps on purpose (the mail).
    await timed(t, "6. destroy", async () => {
      await engine.destroy();
      assert.equal(await host.exec("docker ps -aq"), "", "no container is left");
      assert.doesNotMatch(
        await host.exec("docker network ls --format '{{.Name}}'"),
        /semail/,
        "no network of ours is left",
      );
      assert.doesNotMatch(await host.exec("iptables -t mangle -S"), /SEMAIL-USERS/, "no firewall rule is left");
      assert.equal(
        await host.exec("test -e /etc/semail/users.yaml && echo there || true"),
        "",
        "the users list is gone",
      );
      assert.match(await host.exec("ls /var/lib/semail/images"), /alice/, "the mail is kept");
    });
  } finally {
    // A failed run still takes down what it made on the host, while the host is there (the
    // t.after hooks that stop it run after this).
    await engine.destroy().catch(() => undefined);
    await engine.stack.workspace.removeStack(STACK, { force: true }).catch(() => undefined);
  }
});
