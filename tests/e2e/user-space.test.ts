// The user's own space, from the user's chair, on a real Docker engine: `semail start` (a
// child process) with the users' containers; alice and bob make mailboxes and add their
// SSH keys on the web form; the form's `ssh -J` line opens alice's container through the
// jump sshd; neomutt (driven through tmux) shows a message inbound just stored; msmtp in
// alice's container sends to bob through the outbound daemon with AUTH, and bob reads it in
// his own container. Then what must not work: each a test of its own.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { createTransport } from "nodemailer";
import { mailUid } from "../../config/mail-uid.ts";
import { localInstanceId } from "../../deploy/local/docker-engine.ts";
import { aptProxyName, containerName, jumpName } from "../../deploy/local/containers.ts";
import { dockerEngine, type DockerEngine } from "../../testkit/docker.ts";
import { Client } from "../webform/helpers.ts";
import { startLocal, writeLocalSettings } from "./local-process.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
/** A cold engine builds the base and both images first. */
const READY_MS = 20 * 60_000;

interface Result {
  readonly code: number;
  readonly out: string;
}

/** Runs a program with bounded time; never rejects on a non-zero exit. */
async function sh(
  program: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(program, [...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
    // A program that exits before reading its input is no error here.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** One user at their laptop: a key pair and an ssh config that uses it for every hop. */
async function laptop(dir: string, user: string) {
  const key = join(dir, `${user}_ed25519`);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${user}@laptop`, "-f", key]);
  const config = join(dir, `${user}.ssh-config`);
  await writeFile(
    config,
    [
      "Host *",
      `  IdentityFile ${key}`,
      "  IdentitiesOnly yes",
      "  BatchMode yes",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  LogLevel ERROR",
      "  ConnectTimeout 10",
      "",
    ].join("\n"),
  );
  return { key, config, publicKey: (await readFile(`${key}.pub`, "utf8")).trim() };
}

/** The form's line, run with the laptop's ssh config: `ssh -F CONFIG -J ... owner@ip COMMAND`. */
function sshLine(line: string, config: string, command: string, input?: string): Promise<Result> {
  const [ssh, ...rest] = line.split(" ");
  assert.equal(ssh, "ssh");
  return sh("ssh", ["-F", config, ...rest, command], { ...(input !== undefined ? { input } : {}), timeoutMs: 30_000 });
}

async function waitApplied(client: Client): Promise<void> {
  await untilValue(
    async () => {
      const s = await client.status();
      if (s.state === "failed") throw new Error(`apply failed: ${s.reason}`);
      return s.state === "done" && !s.pending ? true : undefined;
    },
    "the apply to finish",
    180_000,
    100,
  );
}

async function createMailbox(
  web: string,
  uid: string,
  password: string,
  publicKey: string,
): Promise<{ client: Client; line: string }> {
  const client = new Client(web);
  assert.equal((await client.login(uid, password)).status, 303);
  await client.get("/");
  assert.equal((await client.post("/mailbox", { localPart: uid, kind: "subdomain", subdomain: uid })).status, 303);
  await waitApplied(client);
  // The container is made with the mailbox; until a key is added nobody can open it.
  const before = (await client.get("/")).text;
  assert.match(before, /<pre><code><span class="line">ssh -J /, "the line is shown as soon as the container exists");
  assert.match(before, /Your mailbox has no SSH key yet/);
  assert.equal((await client.post("/mailbox/keys", { sshKey: publicKey })).status, 303);
  await waitApplied(client);
  const page = (await client.get("/")).text;
  const line = /<pre><code><span class="line">(ssh -J [^<]+)<\/span><\/code><\/pre>/.exec(page)?.[1];
  assert.ok(line, `the mailbox page shows the ssh line:\n${page}`);
  return { client, line: line.replaceAll("&#64;", "@").replaceAll("&#x40;", "@") };
}

/** `bash /dev/tcp` from inside `container`: connected, refused or (dropped) timed out. */
async function probe(
  engine: DockerEngine,
  container: string,
  host: string,
  port: number,
): Promise<"connected" | "refused" | "timeout"> {
  const r = await sh("docker", ["exec", container, "timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`], {
    env: { DOCKER_HOST: engine.host },
    timeoutMs: 20_000,
  });
  return r.code === 0 ? "connected" : r.code === 124 ? "timeout" : "refused";
}

async function listenOn(host: string): Promise<Server> {
  const server = createServer((socket) => socket.end("hello\n"));
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, host, ok));
  return server;
}

// The containers' firewall (iptables) and mail filesystems need root, as local mode says.
const skip = needsRoot;

test("the user's own space: containers through the jump sshd, neomutt, msmtp, and their isolation", {
  skip,
  timeout: READY_MS + 10 * 60_000,
}, async (t: TestContext) => {
  const engine = await dockerEngine();
  const dataDir = await mkdtemp(join(tmpdir(), "semail-space-"));
  const id = localInstanceId(dataDir);
  const tmux = join(dataDir, "tmux.sock");
  let local: Awaited<ReturnType<typeof startLocal>> | undefined;
  const servers: Server[] = [];
  t.after(async () => {
    for (const server of servers) server.close();
    await sh("tmux", ["-S", tmux, "kill-server"]);
    if (local) {
      const code = await local.interrupt();
      if (code !== 0) await local.kill();
    }
    // Local mode keeps its containers and networks for its next start: a test has none.
    const ids = (await engine.docker(["ps", "-aq", "--filter", `label=semail.local=${id}`]))
      .split("\n")
      .filter(Boolean);
    if (ids.length > 0) await engine.docker(["rm", "-f", "-v", ...ids]);
    for (const net of [`semail-${id}-users`, `semail-${id}-jump`, `semail-${id}-apt`])
      await engine.docker(["network", "rm", net]).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    await engine.release();
  });

  const ports = await writeLocalSettings(dataDir);
  const started = Date.now();
  local = await startLocal(dataDir, { containers: true, env: { DOCKER_HOST: engine.host }, readyMs: READY_MS });
  t.diagnostic(`semail start with containers ready in ${Math.round((Date.now() - started) / 1000)} s`);
  const { passwords, containers } = local.ready;
  assert.ok(containers.jumpPort, `the users' containers are on: ${local.output()}`);
  assert.match(
    local.output(),
    new RegExp(`ssh -J semail-jump@127\\.0\\.0\\.1:${containers.jumpPort} OWNER@ADDRESS`),
    "the banner gives the ssh -J line's form",
  );
  const web = `http://127.0.0.1:${ports.web}`;
  const alice = await laptop(dataDir, "alice");
  const bob = await laptop(dataDir, "bob");

  // 1. Both make their mailbox and add their key on the form, which then shows the line.
  const aliceForm = await createMailbox(web, "alice", passwords.alice!, alice.publicKey);
  const bobForm = await createMailbox(web, "bob", passwords.bob!, bob.publicKey);
  const jump = `semail-jump@127.0.0.1:${containers.jumpPort}`;
  assert.match(aliceForm.line, new RegExp(`^ssh -J ${jump.replaceAll(".", "\\.")} alice@\\d+\\.\\d+\\.\\d+\\.\\d+$`));
  assert.match(bobForm.line, /^ssh -J semail-jump@127\.0\.0\.1:\d+ bob@[\d.]+$/);
  const aliceIp = aliceForm.line.split("@").at(-1)!;
  const bobIp = bobForm.line.split("@").at(-1)!;
  const aliceBox = containerName(id, "alice");
  const bobBox = containerName(id, "bob");

  await t.test(
    "the form's ssh -J line opens alice's container as alice, with her mailbox's uid, /mail hers",
    async () => {
      const r = await sshLine(
        aliceForm.line,
        alice.config,
        "id -un; id -u; stat -c %u /mail; test -f /mail/INBOX && echo inbox",
      );
      assert.equal(r.code, 0, r.out);
      assert.deepEqual(r.out.trim().split("\n"), [
        "alice",
        String(mailUid("alice")),
        String(mailUid("alice")),
        "inbox",
      ]);
    },
  );

  await t.test(
    "neomutt in alice's container (through tmux) shows a message the inbound daemon just stored",
    async () => {
      const subject = `Outside hello ${randomBytes(4).toString("hex")}`;
      const inbound = createTransport({ host: "127.0.0.1", port: ports.inbound, secure: false, ignoreTLS: true });
      await inbound.sendMail({
        from: "carol@example.org",
        to: "alice@alice.semail.test",
        subject,
        text: "Hi Alice, from outside.\n",
      });
      inbound.close();
      await until(
        async () => (await readFile(join(dataDir, "mail/alice/INBOX"), "utf8").catch(() => "")).includes(subject),
        "the message in alice's INBOX",
        30_000,
        100,
      );
      const [, ...rest] = aliceForm.line.split(" ");
      const command = ["ssh", "-F", alice.config, "-tt", ...rest, "neomutt"].join(" ");
      const start = await sh("tmux", [
        "-S",
        tmux,
        "new-session",
        "-d",
        "-s",
        "alice",
        "-x",
        "160",
        "-y",
        "40",
        command,
      ]);
      assert.equal(start.code, 0, start.out);
      const screen = await untilValue(
        async () => {
          const pane = await sh("tmux", ["-S", tmux, "capture-pane", "-p", "-t", "alice"]);
          return pane.out.includes(subject) ? pane.out : undefined;
        },
        "neomutt to list the message",
        30_000,
        100,
      ).catch(async (err: Error) =>
        assert.fail(`${err.message}:\n${(await sh("tmux", ["-S", tmux, "capture-pane", "-p", "-t", "alice"])).out}`),
      );
      assert.match(screen, /carol@example\.org|carol/);
      await sh("tmux", ["-S", tmux, "send-keys", "-t", "alice", "q"]);
      await sh("tmux", ["-S", tmux, "kill-session", "-t", "alice"]);
    },
  );

  const sentSubject = `From the container of alice ${randomBytes(4).toString("hex")}`;
  await t.test(
    "msmtp in alice's container sends to bob through outbound with AUTH; bob reads it in his container",
    async () => {
      const refused = await sshLine(
        aliceForm.line,
        alice.config,
        "printf 'To: bob@bob.semail.test\\nSubject: no password\\n\\nx\\n' | msmtp -t",
      );
      assert.notEqual(refused.code, 0, "no password file: msmtp cannot send");
      const saved = await sshLine(
        aliceForm.line,
        alice.config,
        "umask 077; cat > ~/.semail-password",
        `${passwords.alice}\n`,
      );
      assert.equal(saved.code, 0, saved.out);
      const message = `To: bob@bob.semail.test\nSubject: ${sentSubject}\n\nHello Bob, from my own container.\n`;
      const sent = await sshLine(aliceForm.line, alice.config, "msmtp -t", message);
      assert.equal(sent.code, 0, sent.out);
      await until(
        async () => (await readFile(join(dataDir, "mail/bob/INBOX"), "utf8").catch(() => "")).includes(sentSubject),
        "the message in bob's INBOX",
        60_000,
        100,
      );
      const read = await sshLine(
        bobForm.line,
        bob.config,
        `id -un; grep -c '^Subject: ${sentSubject}$' /mail/INBOX; grep -m1 '^From: ' /mail/INBOX | tail -1`,
      );
      assert.equal(read.code, 0, read.out);
      const [who, count] = read.out.trim().split("\n");
      assert.equal(who, "bob");
      assert.equal(count, "1");
      assert.match(read.out, /alice@alice\.semail\.test/);
    },
  );

  await t.test(
    "alice adds a second key on the form: the same container runs on, her open session too, and msmtp still finds ~/.semail-password",
    async () => {
      const before = (await engine.docker(["inspect", "-f", "{{.Id}}", aliceBox])).trim();
      const [, ...rest] = aliceForm.line.split(" ");
      const session = spawn("ssh", ["-F", alice.config, ...rest, "cat"], { stdio: ["pipe", "pipe", "pipe"] });
      let echoed = "";
      session.stdout.setEncoding("utf8").on("data", (d: string) => (echoed += d));
      const echo = (line: string) => {
        session.stdin.write(`${line}\n`);
        return until(async () => echoed.includes(`${line}\n`), `the open session to echo ${line}`, 20_000, 100);
      };
      try {
        await echo("before");
        const desk = await laptop(dataDir, "alice-desk");
        assert.equal((await aliceForm.client.post("/mailbox/keys", { sshKey: desk.publicKey })).status, 303);
        await waitApplied(aliceForm.client);
        assert.equal(
          (await engine.docker(["inspect", "-f", "{{.Id}}", aliceBox])).trim(),
          before,
          "the same container",
        );
        await echo("after");
        const subject = `After a key change ${randomBytes(4).toString("hex")}`;
        const sent = await sshLine(
          aliceForm.line,
          desk.config,
          "msmtp -t",
          `To: bob@bob.semail.test\nSubject: ${subject}\n\nStill here.\n`,
        );
        assert.equal(sent.code, 0, `the new key gets in, and the password saved before is still there: ${sent.out}`);
        await until(
          async () => (await readFile(join(dataDir, "mail/bob/INBOX"), "utf8").catch(() => "")).includes(subject),
          "the message in bob's INBOX",
          60_000,
          100,
        );
      } finally {
        session.kill();
      }
    },
  );

  await t.test(
    "alice's key cannot open bob's container: the jump refuses the tunnel, and bob's sshd refuses her key",
    async () => {
      const viaJump = await sh("ssh", ["-F", alice.config, "-J", jump, `bob@${bobIp}`, "id"]);
      assert.notEqual(viaJump.code, 0);
      assert.match(viaJump.out, /stdio forwarding failed/, viaJump.out);
      // The same hop with the jump's reason shown (ssh -J passes the config, not -o).
      const hop = `ssh -F ${alice.config} -o LogLevel=INFO -p ${containers.jumpPort} -W %h:%p semail-jump@127.0.0.1`;
      const why = await sh("ssh", ["-F", alice.config, "-o", `ProxyCommand=${hop}`, `bob@${bobIp}`, "id"]);
      assert.notEqual(why.code, 0);
      assert.match(why.out, /administratively prohibited/, why.out);
      // Even through a tunnel bob's key may open, his container takes only his keys.
      const proxy = `ssh -F ${bob.config} -p ${containers.jumpPort} -W %h:%p semail-jump@127.0.0.1`;
      const aliceKey = await sh("ssh", ["-F", alice.config, "-o", `ProxyCommand=${proxy}`, `bob@${bobIp}`, "id"]);
      assert.notEqual(aliceKey.code, 0);
      assert.match(aliceKey.out, /Permission denied \(publickey\)/, aliceKey.out);
      const asAlice = await sh("ssh", ["-F", alice.config, "-o", `ProxyCommand=${proxy}`, `alice@${bobIp}`, "id"]);
      assert.match(asAlice.out, /Permission denied \(publickey\)/, asAlice.out);
    },
  );

  await t.test(
    "alice's container reaches the submission port on the host and the apt proxy's port, and nothing else: not bob's container, the jump, or any other host port",
    async () => {
      const gateway = (
        await engine.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", `semail-${id}-users`])
      ).trim();
      const jumpIp = (
        await engine.docker([
          "inspect",
          "-f",
          `{{(index .NetworkSettings.Networks "semail-${id}-users").IPAddress}}`,
          jumpName(id),
        ])
      ).trim();
      // Something listening on the host's own address on that bridge, as a careless service might.
      const bait = await listenOn(gateway);
      servers.push(bait);
      const baitPort = (bait.address() as { port: number }).port;
      assert.equal(await probe(engine, aliceBox, gateway, ports.submission), "connected", "outbound's submission port");
      // The apt proxy, on its port only; it fetches from Debian alone (a request for another host is refused without a fetch).
      const aptIp = (
        await engine.docker([
          "inspect",
          "-f",
          `{{(index .NetworkSettings.Networks "semail-${id}-users").IPAddress}}`,
          aptProxyName(id),
        ])
      ).trim();
      const proxied = await engine.docker([
        "exec",
        aliceBox,
        "timeout",
        "5",
        "bash",
        "-c",
        `exec 3<>/dev/tcp/${aptIp}/3142; printf 'GET http://example.org/ HTTP/1.0\r\nHost: example.org\r\n\r\n' >&3; head -n 1 <&3`,
      ]);
      assert.match(proxied, /^HTTP\/1\.[01] 403/, proxied);
      const aptEnv = await engine.docker(["exec", aliceBox, "cat", "/etc/apt/apt.conf.d/01semail-proxy"]);
      assert.equal(aptEnv.trim(), `Acquire::http::Proxy "http://${aptIp}:3142";`);
      assert.equal(await probe(engine, aliceBox, aptIp, 22), "timeout", "the apt proxy's other ports");
      assert.equal(await probe(engine, aliceBox, gateway, baitPort), "timeout", "another port on the host");
      assert.equal(
        await probe(engine, aliceBox, gateway, ports.web),
        "timeout",
        "the web form's port, on the bridge address",
      );
      assert.equal(await probe(engine, aliceBox, bobIp, 22), "timeout", "bob's sshd");
      assert.equal(await probe(engine, aliceBox, jumpIp, 22), "timeout", "the jump container's sshd");
      // And the other way: bob's container does not reach alice's either.
      assert.equal(await probe(engine, bobBox, aliceIp, 22), "timeout", "alice's sshd from bob's container");
    },
  );

  await t.test(
    "no way out: the users' network is internal, alice's container has routes only to this machine, which forwards nothing from that bridge",
    async () => {
      const internal = (
        await engine.docker(["network", "inspect", "-f", "{{.Internal}}", `semail-${id}-users`])
      ).trim();
      assert.equal(internal, "true");
      const networks = JSON.parse(
        await engine.docker(["inspect", "-f", "{{json .NetworkSettings.Networks}}", aliceBox]),
      ) as Record<string, unknown>;
      assert.deepEqual(
        Object.keys(networks),
        [`semail-${id}-users`],
        "alice's container is on the users' network only",
      );
      // Docker 20.10 (Debian's) still gives a container on an internal network a default route
      // (26.0 stopped): its one next hop is this machine's address on the users' bridge,
      // which forwards nothing from that bridge and takes only the submission port.
      const gateway = (
        await engine.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", `semail-${id}-users`])
      ).trim();
      const routes = await engine.docker(["exec", aliceBox, "cat", "/proc/net/route"]);
      const hex = (ip: string) =>
        ip
          .split(".")
          .map((n) => Number(n).toString(16).padStart(2, "0").toUpperCase())
          .reverse()
          .join("");
      const hops = new Set(
        routes
          .trim()
          .split("\n")
          .slice(1)
          .map((l) => l.split(/\s+/)[2]),
      );
      assert.ok(
        [...hops].every((hop) => hop === "00000000" || hop === hex(gateway)),
        `every route ends at the users' bridge or this machine's address on it (${gateway}):\n${routes}`,
      );
      const bridge = `semail-u${id.slice(0, 6)}`;
      const forward = (await run("iptables", ["-w", "10", "-t", "mangle", "-S", `SEMAIL-${id}-FWD`])).stdout
        .trim()
        .split("\n");
      assert.equal(
        forward.at(-1),
        `-A SEMAIL-${id}-FWD -j DROP`,
        "this machine forwards nothing else from or to the users' bridge",
      );
      await run("iptables", ["-w", "10", "-t", "mangle", "-C", "FORWARD", "-i", bridge, "-j", `SEMAIL-${id}-FWD`]);
      await run("iptables", ["-w", "10", "-t", "mangle", "-C", "FORWARD", "-o", bridge, "-j", `SEMAIL-${id}-FWD`]);
      const v6 = await engine.docker(["exec", aliceBox, "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"]);
      assert.equal(v6.trim(), "1", "no IPv6 either");
    },
  );

  await t.test("alice cannot read bob's mail, not even as root in her container", async () => {
    const mounts = JSON.parse(await engine.docker(["inspect", "-f", "{{json .Mounts}}", aliceBox])) as Array<{
      Source: string;
      Destination: string;
    }>;
    assert.deepEqual(mounts.find((m) => m.Destination === "/mail")?.Source, join(dataDir, "mail/alice"));
    assert.ok(!mounts.some((m) => m.Source.includes("/bob")), JSON.stringify(mounts));
    const search = await sshLine(
      aliceForm.line,
      alice.config,
      `sudo grep -rl '${sentSubject}' /mail /home /root /tmp /etc 2>/dev/null | grep -c . || true`,
    );
    assert.equal(
      search.out.trim(),
      "0",
      `bob's INBOX holds the message alice sent, but no copy of it is in her container: ${search.out}`,
    );
    const bobInbox = await stat(join(dataDir, "mail/bob/INBOX"));
    assert.equal(bobInbox.uid, mailUid("bob"));
    assert.equal(bobInbox.mode & 0o077, 0, "bob's INBOX is his alone");
  });

  await t.test("the jump account has no shell and opens only the tunnel its key allows", async () => {
    const shell = await sh("ssh", [
      "-F",
      alice.config,
      "-p",
      String(containers.jumpPort),
      "semail-jump@127.0.0.1",
      "id",
    ]);
    assert.notEqual(shell.code, 0);
    assert.doesNotMatch(shell.out, /uid=/);
    const tty = await sh("ssh", [
      "-F",
      alice.config,
      "-tt",
      "-p",
      String(containers.jumpPort),
      "semail-jump@127.0.0.1",
    ]);
    assert.doesNotMatch(tty.out, /uid=|\$ $/);
    const own = await sh(
      "ssh",
      ["-F", alice.config, "-p", String(containers.jumpPort), "-W", `${aliceIp}:22`, "semail-jump@127.0.0.1"],
      { timeoutMs: 15_000 },
    );
    assert.match(own.out, /^SSH-2\.0-OpenSSH/, "her own container's port 22 opens");
    for (const target of [`${aliceIp}:25`, `${bobIp}:22`, `127.0.0.1:22`]) {
      const other = await sh(
        "ssh",
        [
          "-F",
          alice.config,
          "-o",
          "LogLevel=INFO",
          "-p",
          String(containers.jumpPort),
          "-W",
          target,
          "semail-jump@127.0.0.1",
        ],
        { timeoutMs: 15_000 },
      );
      assert.match(other.out, /administratively prohibited/, `${target}: ${other.out}`);
    }
    const remote = await sh(
      "ssh",
      [
        "-F",
        alice.config,
        "-p",
        String(containers.jumpPort),
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-R",
        "0:127.0.0.1:22",
        "semail-jump@127.0.0.1",
      ],
      { timeoutMs: 15_000 },
    );
    assert.notEqual(remote.code, 0, "no remote forwarding");
  });

  await t.test(
    "alice's container killed: Docker brings it back, her mail intact, and the form's line opens it again",
    async () => {
      const inbox = join(dataDir, "mail/alice/INBOX");
      const before = await readFile(inbox);
      const restarts = Number((await engine.docker(["inspect", "-f", "{{.RestartCount}}", aliceBox])).trim());
      const pid = Number((await engine.docker(["inspect", "-f", "{{.State.Pid}}", aliceBox])).trim());
      assert.ok(pid > 0);
      process.kill(pid, "SIGKILL");
      await untilValue(
        async () => {
          const [count, running] = (
            await engine.docker(["inspect", "-f", "{{.RestartCount}} {{.State.Running}}", aliceBox])
          )
            .trim()
            .split(" ");
          return Number(count) > restarts && running === "true" ? true : undefined;
        },
        "the container to come back",
        60_000,
        100,
      );
      assert.deepEqual(await readFile(inbox), before, "the mail is as it was");
      const page = (await aliceForm.client.get("/")).text;
      const line = /<pre><code><span class="line">(ssh -J [^<]+)<\/span><\/code><\/pre>/.exec(page)?.[1] ?? "";
      const r = await untilValue(
        async () => {
          const attempt = await sshLine(line, alice.config, "grep -c '^Subject: ' /mail/INBOX");
          return attempt.code === 0 ? attempt : undefined;
        },
        "ssh into the restarted container",
        60_000,
        100,
      );
      assert.equal(r.out.trim(), String((before.toString("latin1").match(/^Subject: /gm) ?? []).length));
    },
  );

  await t.test(
    "bob deletes his mailbox on the form: his container goes, his mail stays, the jump forgets his key",
    async () => {
      await bobForm.client.get("/mailbox/delete");
      assert.equal((await bobForm.client.post("/mailbox/delete")).status, 303);
      await waitApplied(bobForm.client);
      assert.equal(
        (await engine.docker(["ps", "-aq", "--filter", `name=^${bobBox}$`])).trim(),
        "",
        "no container of bob's",
      );
      const keys = await engine.docker(["exec", jumpName(id), "ls", "/etc/semail/jump"]);
      assert.deepEqual(keys.trim().split("\n"), ["alice.keys"]);
      const tunnel = await sh(
        "ssh",
        [
          "-F",
          bob.config,
          "-o",
          "LogLevel=INFO",
          "-p",
          String(containers.jumpPort),
          "-W",
          `${bobIp}:22`,
          "semail-jump@127.0.0.1",
        ],
        { timeoutMs: 15_000 },
      );
      assert.match(tunnel.out, /Permission denied \(publickey\)/, tunnel.out);
      // The mail stays in bob's filesystem image (unmounted now), or in his directory without images.
      const kept = await stat(join(dataDir, "images/bob.img")).catch(() => stat(join(dataDir, "mail/bob/INBOX")));
      assert.ok(kept.size > 0);
    },
  );
});
