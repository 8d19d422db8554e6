// The user image (assets/images/user) on a real Docker engine, reached over ssh on
// the test's own Docker network as its owner would: key login only, the account owning
// /mail, neomutt showing the INBOX (driven through tmux), sudo, apt's proxy, msmtp submitting as the
// owner (in plain text or STARTTLS), a host key and a home (/mail/home) that outlive the
// container, keys rewritten in place seen at the next login, and a login that names the
// recorded programs a new container could not install again.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chown, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it, type TestContext } from "node:test";
import { SMTPServer } from "smtp-server";
import { dockerEngine, type DockerEngine } from "../../../testkit/docker.ts";
import { selfSignedCertificate, type TestCertificate } from "../../../testkit/tls.ts";
import { buildImage, dockerScope, type DockerScope } from "./fixture.ts";
import { until } from "../../../testkit/until.ts";

const run = promisify(execFile);
const UID = 1500;
const GID = 1501;
const ADDRESS = "alice@semail.test";
const SUBJECT = "Tea at five";

interface Alice {
  readonly id: string;
  readonly ip: string;
  readonly key: string;
  readonly otherKey: string;
  readonly hostKeys: string;
  /** The directory mounted read-only at /etc/semail/keys. */
  readonly keysDir: string;
  /** The mail filesystem mounted at /mail. */
  readonly mail: string;
  ssh(command: string, key?: string): Promise<string>;
}

/** alice stores her password, then sends a message with sendmail (msmtp). */
const SEND =
  "(umask 077; echo 'alice-Secret1' >~/.semail-password) && printf 'To: bob@example.org\\nSubject: from the container\\n\\nhello\\n' | /usr/sbin/sendmail -t";

interface Received {
  user?: string;
  password?: string;
  secure?: boolean;
  from?: string;
  to?: string[];
  subject?: boolean;
}

/** The host's address on a test network, where a container reaches the test process. */
async function gatewayOf(engine: DockerEngine, network: string): Promise<string> {
  return (await engine.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network])).trim();
}

/** A stand-in for the outbound daemon on `host`: AUTH required, plain text only without a certificate. */
async function stubOutbound(
  t: TestContext,
  host: string,
  tls?: TestCertificate,
): Promise<{ host: string; port: number; received: Received }> {
  const received: Received = {};
  const server = new SMTPServer({
    authOptional: false,
    logger: false,
    ...(tls ? { key: tls.key, cert: tls.cert } : { allowInsecureAuth: true, disabledCommands: ["STARTTLS"] }),
    onAuth(auth, session, done) {
      Object.assign(received, { user: auth.username ?? "", password: auth.password ?? "", secure: session.secure });
      done(null, { user: auth.username ?? "" });
    },
    onData(stream, session, done) {
      let data = "";
      stream
        .setEncoding("utf8")
        .on("data", (d: string) => (data += d))
        .on("end", () => {
          const from = session.envelope.mailFrom;
          Object.assign(received, {
            from: from ? from.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: /Subject: from the container/.test(data),
          });
          done();
        });
    },
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  return { host, port: (server.server.address() as { port: number }).port, received };
}

const SSH_OPTIONS = [
  "-F",
  "/dev/null",
  "-o",
  "BatchMode=yes",
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "LogLevel=ERROR",
  "-o",
  "ConnectTimeout=10",
];

/** alice's keys, her mail filesystem (one message in INBOX, one folder) and her running container. */
async function startAlice(
  scope: DockerScope,
  image: string,
  network: string,
  extra: { env?: readonly string[]; docker?: readonly string[] } = {},
): Promise<Alice> {
  const env = extra.env ?? [];
  const dir = await scope.dir("semail-user-");
  for (const name of ["alice", "other"])
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path.join(dir, name)], {
      timeout: 10_000,
    });
  const keysDir = path.join(dir, "keys");
  await mkdir(keysDir, { mode: 0o755 });
  await writeFile(path.join(keysDir, "authorized_keys"), await readFile(path.join(dir, "alice.pub")), { mode: 0o644 });
  const mail = path.join(dir, "mail");
  await mkdir(path.join(mail, "mail"), { recursive: true });
  await writeFile(
    path.join(mail, "INBOX"),
    `From bob@example.org Mon Nov 30 10:00:00 2026\nFrom: bob@example.org\nTo: ${ADDRESS}\nSubject: ${SUBJECT}\n\nSee you there.\n\n`,
  );
  await writeFile(path.join(mail, "mail", `${ADDRESS},bob@example.org`), "");
  for (const p of [
    mail,
    path.join(mail, "INBOX"),
    path.join(mail, "mail"),
    path.join(mail, "mail", `${ADDRESS},bob@example.org`),
  ])
    await chown(p, UID, GID);
  const hostKeys = path.join(dir, "host-keys");
  await mkdir(hostKeys);
  const id = await scope.run([
    "--network",
    network,
    "-v",
    `${keysDir}:/etc/semail/keys:ro`,
    "-v",
    `${mail}:/mail`,
    "-v",
    `${hostKeys}:/etc/ssh/keys`,
    "-e",
    "SEMAIL_OWNER=alice",
    "-e",
    `SEMAIL_UID=${UID}`,
    "-e",
    `SEMAIL_GID=${GID}`,
    "-e",
    `SEMAIL_ADDRESS=${ADDRESS}`,
    ...(env.some((e) => e.startsWith("SEMAIL_SUBMISSION=")) ? [] : ["-e", "SEMAIL_SUBMISSION=semail-outbound:587"]),
    ...env.flatMap((e) => ["-e", e]),
    ...(extra.docker ?? []),
    image,
  ]);
  await scope.healthy(id);
  const ip = await scope.address(id, network);
  const key = path.join(dir, "alice");
  return {
    id,
    ip,
    key,
    otherKey: path.join(dir, "other"),
    hostKeys,
    keysDir,
    mail,
    ssh: async (command, useKey = key) =>
      (
        await run("ssh", [...SSH_OPTIONS, "-o", "IdentitiesOnly=yes", "-i", useKey, `alice@${ip}`, command], {
          timeout: 30_000,
        })
      ).stdout,
  };
}

describe("the user image", { timeout: 20 * 60_000 }, () => {
  let engine: DockerEngine | undefined;
  let image = "";
  before(async () => {
    engine = await dockerEngine();
    image = await buildImage(engine, "user");
  });
  after(() => engine?.release());

  it("logs alice in with her key only, as the owner of /mail, with sudo", async (t) => {
    const scope = dockerScope(t, engine!);
    const alice = await startAlice(scope, image, await scope.network(), {
      env: ["SEMAIL_APT_PROXY=http://semail-apt-proxy:3142"],
    });
    assert.equal((await alice.ssh("id -u; id -g; id -un")).trim(), `${UID}\n${GID}\nalice`);
    assert.match(
      await alice.ssh("apt-config dump Acquire::http::Proxy"),
      /^Acquire::http::Proxy "http:\/\/semail-apt-proxy:3142";$/m,
    );
    assert.match(
      await alice.ssh("cat /etc/motd"),
      new RegExp(`SEMail: ${ADDRESS}[^]*neomutt[^]*semail-password[^]*apt-get install`),
    );
    assert.match(await alice.ssh("cat /mail/INBOX"), new RegExp(`Subject: ${SUBJECT}`));
    assert.equal((await alice.ssh("sudo -n id -u")).trim(), "0");
    assert.equal((await alice.ssh("readlink -f /usr/sbin/sendmail")).trim(), "/usr/bin/msmtp");

    const refused = async (options: string[]) =>
      run("ssh", [...SSH_OPTIONS, ...options, `alice@${alice.ip}`, "true"], { timeout: 30_000 }).then(
        () => "logged in",
        (e: { stderr: string }) => e.stderr,
      );
    assert.match(await refused(["-o", "IdentitiesOnly=yes", "-i", alice.otherKey]), /Permission denied \(publickey\)/);
    // The server offers no password method at all.
    assert.match(
      await refused(["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"]),
      /Permission denied \(publickey\)/,
    );
    assert.match(await refused(["-o", "IdentitiesOnly=yes", "-i", alice.key, "-l", "root"]), /Permission denied/);
  });

  it("shows the INBOX and the folders in neomutt", async (t) => {
    const scope = dockerScope(t, engine!);
    const alice = await startAlice(scope, image, await scope.network());
    const socket = path.join(await scope.dir("semail-tmux-"), "tmux");
    const tmux = (...args: string[]) => run("tmux", ["-S", socket, ...args], { timeout: 10_000 }).then((r) => r.stdout);
    t.after(() => tmux("kill-server").catch(() => undefined));
    const ssh = [...SSH_OPTIONS, "-tt", "-o", "IdentitiesOnly=yes", "-i", alice.key, `alice@${alice.ip}`, "neomutt"]
      .map((a) => `'${a}'`)
      .join(" ");
    await tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30", `ssh ${ssh}`);
    const screen = async (want: RegExp, what: string): Promise<string> => {
      let text = "";
      await until(
        async () => want.test((text = await tmux("capture-pane", "-p"))),
        () => `neomutt to show ${what}; the screen:\n${text}`,
        20_000,
        200,
      );
      return text;
    };
    await screen(new RegExp(`bob@example\\.org.*${SUBJECT}`), "the message in INBOX");
    assert.match(await screen(/NeoMutt: \/mail\/INBOX \[Msgs:1/, "INBOX in its status line"), /Msgs:1/);
    // change-folder's list (`c`, then `?`) holds INBOX and the folder under /mail/mail.
    await tmux("send-keys", "c", "?");
    await screen(/alice@semail\.test,bob@example\.org/, "the folder in the mailbox list");
  });

  it("sends with sendmail through SEMAIL_SUBMISSION, authenticated as alice", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const outbound = await stubOutbound(t, await gatewayOf(engine!, network));
    const alice = await startAlice(scope, image, network, {
      env: [`SEMAIL_SUBMISSION=${outbound.host}:${outbound.port}`],
    });
    const noPassword = await alice.ssh("printf 'To: bob@example.org\\n\\nx\\n' | /usr/sbin/sendmail -t 2>&1 || true");
    assert.match(noPassword, /put your SEMail password in it/);
    await alice.ssh(SEND);
    assert.deepEqual(outbound.received, {
      user: "alice",
      password: "alice-Secret1",
      secure: false,
      from: ADDRESS,
      to: ["bob@example.org"],
      subject: true,
    });
  });

  it("sends over STARTTLS, checking outbound's certificate against the CA the deployment mounts", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const certificate = await selfSignedCertificate("semail-outbound");
    t.after(() => certificate.cleanup());
    const gateway = await gatewayOf(engine!, network);
    const outbound = await stubOutbound(t, gateway, certificate);
    const alice = await startAlice(scope, image, network, {
      env: [`SEMAIL_SUBMISSION=semail-outbound:${outbound.port}`, "SEMAIL_SUBMISSION_STARTTLS=yes"],
      docker: [
        "--add-host",
        `semail-outbound:${gateway}`,
        "-v",
        `${certificate.certFile}:/etc/semail/submission-ca.pem:ro`,
      ],
    });
    await alice.ssh(SEND);
    assert.deepEqual(outbound.received, {
      user: "alice",
      password: "alice-Secret1",
      secure: true,
      from: ADDRESS,
      to: ["bob@example.org"],
      subject: true,
    });
  });

  it("keeps its host key in the volume when the container is replaced, and refuses wrong settings by name", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const alice = await startAlice(scope, image, network);
    const hostKey = async (id: string) =>
      (await engine!.docker(["exec", id, "cat", "/etc/ssh/keys/ssh_host_ed25519_key.pub"])).split(" ")[1];
    const before = await hostKey(alice.id);
    const inspect = JSON.parse(await engine!.docker(["inspect", alice.id])) as [
      { Config: { Env: string[] }; HostConfig: { Binds: string[] } },
    ];
    await engine!.docker(["rm", "-f", alice.id]);
    const binds = inspect[0].HostConfig.Binds.flatMap((b) => ["-v", b]);
    const env = inspect[0].Config.Env.filter((e) => e.startsWith("SEMAIL_")).flatMap((e) => ["-e", e]);
    const again = await scope.run(["--network", network, ...binds, ...env, image]);
    await scope.healthy(again);
    assert.equal(await hostKey(again), before);

    const wrongUid = await engine!.docker(["run", "--rm", ...binds, ...env, "-e", "SEMAIL_UID=1600", image]).then(
      () => "started",
      (e: Error) => e.message,
    );
    assert.match(wrongUid, /SEMAIL_UID=1600 does not own \/mail \(its owner is uid 1500\)/);
    const badOwner = await engine!.docker(["run", "--rm", ...binds, ...env, "-e", "SEMAIL_OWNER=Alice!", image]).then(
      () => "started",
      (e: Error) => e.message,
    );
    assert.match(badOwner, /SEMAIL_OWNER="Alice!" is not a login name/);
    const badProxy = await engine!
      .docker(["run", "--rm", ...binds, ...env, "-e", "SEMAIL_APT_PROXY=https://x", image])
      .then(
        () => "started",
        (e: Error) => e.message,
      );
    assert.match(badProxy, /SEMAIL_APT_PROXY="https:\/\/x" must be http:\/\/HOST\[:PORT\]/);
  });

  it("reads a key change at the next login, in the same container; has tmux", async (t) => {
    const scope = dockerScope(t, engine!);
    const alice = await startAlice(scope, image, await scope.network());
    const started = await engine!.docker(["inspect", "-f", "{{.State.StartedAt}}", alice.id]);
    await assert.rejects(alice.ssh("true", alice.otherKey), /Permission denied \(publickey\)/);
    // As the deployment writes it: a new file renamed over the old one in the mounted directory.
    const file = path.join(alice.keysDir, "authorized_keys");
    await writeFile(
      `${file}.new`,
      `${await readFile(file, "utf8")}${await readFile(`${alice.otherKey}.pub`, "utf8")}`,
      { mode: 0o644 },
    );
    await rename(`${file}.new`, file);
    assert.equal((await alice.ssh("id -un", alice.otherKey)).trim(), "alice");
    assert.equal(await engine!.docker(["inspect", "-f", "{{.State.StartedAt}}", alice.id]), started, "not restarted");
    assert.match(await alice.ssh("tmux -V"), /^tmux \d/);
  });

  it("keeps the home on the mail filesystem (/mail/home, from /etc/skel): a replaced container finds it as it was left", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const alice = await startAlice(scope, image, network);
    assert.equal(
      (await alice.ssh("cd && pwd; test -f .bashrc && echo skel; stat -c '%u %a' ~")).trim(),
      `/mail/home\nskel\n${UID} 700`,
    );
    await alice.ssh("(umask 077; echo 'alice-Secret1' >~/.semail-password); echo kept >~/notes.txt");
    const inspect = JSON.parse(await engine!.docker(["inspect", alice.id])) as [
      { Config: { Env: string[] }; HostConfig: { Binds: string[] } },
    ];
    await engine!.docker(["rm", "-f", alice.id]);
    const again = await scope.run([
      "--network",
      network,
      ...inspect[0].HostConfig.Binds.flatMap((b) => ["-v", b]),
      ...inspect[0].Config.Env.filter((e) => e.startsWith("SEMAIL_")).flatMap((e) => ["-e", e]),
      image,
    ]);
    await scope.healthy(again);
    const ip = await scope.address(again, network);
    const { stdout } = await run(
      "ssh",
      [
        ...SSH_OPTIONS,
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        alice.key,
        `alice@${ip}`,
        "cat ~/notes.txt ~/.semail-password; stat -c %a ~/.semail-password",
      ],
      { timeout: 30_000 },
    );
    assert.equal(stdout, "kept\nalice-Secret1\n600\n");
    // On the host: beside INBOX and mail/, the owner's.
    assert.equal(await readFile(path.join(alice.mail, "home", "notes.txt"), "utf8"), "kept\n");
  });

  it("says at login which recorded programs a start could not install again, and why", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    // An apt proxy that refuses at once (the host's own address on the test network, port 1): nothing leaves the machine.
    const proxy = `http://${await gatewayOf(engine!, network)}:1`;
    const alice = await startAlice(scope, image, network, {
      env: [`SEMAIL_APT_PROXY=${proxy}`, "SEMAIL_PACKAGES_BUDGET=60"],
    });
    // The list as an earlier container left it (and as its owner may edit it): one program, one line that is no package name.
    const listDir = path.join(alice.mail, "home", ".semail");
    await mkdir(listDir, { recursive: true });
    await writeFile(path.join(listDir, "packages"), "# comment\nsemail-no-such-program\n--purge\nnano\n");
    await run("chown", ["-R", `${UID}:${GID}`, listDir]);
    await engine!.docker(["restart", "-t", "1", alice.id]);
    await scope.healthy(alice.id);
    let motd = "";
    await until(
      async () => {
        motd = await engine!.docker(["exec", alice.id, "cat", "/run/semail-packages.motd"]).catch(() => "");
        return /did NOT/.test(motd);
      },
      () => `the install's report in the motd (so far: ${JSON.stringify(motd)})`,
      90_000,
      500,
    );
    assert.match(
      motd,
      /the package archive could not be read \(apt-get update failed; tried again at the next start\): semail-no-such-program\n/,
    );
    assert.match(motd, /not package names: --purge\n/);
    assert.doesNotMatch(motd, /nano/, "nano is the image's: nothing to install");
    // What the owner sees when logging in: sshd shows pam_motd's lines to a terminal login (no command).
    const login = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        "ssh",
        [...SSH_OPTIONS, "-tt", "-o", "IdentitiesOnly=yes", "-i", alice.key, `alice@${alice.ip}`],
        { timeout: 30_000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
      child.stdin!.end("exit\n");
    });
    assert.match(login, /SEMail did NOT install again:[\s\S]*semail-no-such-program/);
    assert.match(await alice.ssh("cat ~/.semail/reinstall.log"), /semail-no-such-program/);
  });
});
