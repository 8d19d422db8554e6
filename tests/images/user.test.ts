// The user image (provisioning/images/user) on a real Docker engine, reached over ssh on
// the test's own Docker network as its owner would: key login only, the account owning
// /mail, neomutt showing the INBOX (driven through tmux), sudo, msmtp submitting as the
// owner, and a host key that outlives the container.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chown, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { dockerEngine, type DockerEngine } from "../helpers/docker.ts";
import { buildImage, dockerScope, type DockerScope } from "./fixture.ts";

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
  ssh(command: string, key?: string): Promise<string>;
}

const SSH_OPTIONS = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"];

/** alice's keys, her mail filesystem (one message in INBOX, one folder) and her running container. */
async function startAlice(scope: DockerScope, image: string, network: string, env: readonly string[] = []): Promise<Alice> {
  const dir = await scope.dir("semail-user-");
  for (const name of ["alice", "other"]) await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path.join(dir, name)], { timeout: 10_000 });
  const keys = path.join(dir, "authorized_keys");
  await writeFile(keys, await readFile(path.join(dir, "alice.pub")), { mode: 0o644 });
  const mail = path.join(dir, "mail");
  await mkdir(path.join(mail, "mail"), { recursive: true });
  await writeFile(path.join(mail, "INBOX"), `From bob@example.org Mon Nov 30 10:00:00 2026\nFrom: bob@example.org\nTo: ${ADDRESS}\nSubject: ${SUBJECT}\n\nSee you there.\n\n`);
  await writeFile(path.join(mail, "mail", `${ADDRESS},bob@example.org`), "");
  for (const p of [mail, path.join(mail, "INBOX"), path.join(mail, "mail"), path.join(mail, "mail", `${ADDRESS},bob@example.org`)]) await chown(p, UID, GID);
  const hostKeys = path.join(dir, "host-keys");
  await mkdir(hostKeys);
  const id = await scope.run([
    "--network", network, "-v", `${keys}:/etc/semail/authorized_keys:ro`, "-v", `${mail}:/mail`, "-v", `${hostKeys}:/etc/ssh/keys`,
    "-e", "SEMAIL_OWNER=alice", "-e", `SEMAIL_UID=${UID}`, "-e", `SEMAIL_GID=${GID}`, "-e", `SEMAIL_ADDRESS=${ADDRESS}`,
    ...(env.some((e) => e.startsWith("SEMAIL_SUBMISSION=")) ? [] : ["-e", "SEMAIL_SUBMISSION=semail-outbound:587"]),
    ...env.flatMap((e) => ["-e", e]),
    image,
  ]);
  await scope.healthy(id);
  const ip = await scope.address(id, network);
  const key = path.join(dir, "alice");
  return {
    id, ip, key, otherKey: path.join(dir, "other"), hostKeys,
    ssh: async (command, useKey = key) => (await run("ssh", [...SSH_OPTIONS, "-o", "IdentitiesOnly=yes", "-i", useKey, `alice@${ip}`, command], { timeout: 30_000 })).stdout,
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
    const alice = await startAlice(scope, image, await scope.network());
    assert.equal((await alice.ssh("id -u; id -g; id -un")).trim(), `${UID}\n${GID}\nalice`);
    assert.match(await alice.ssh("cat /mail/INBOX"), new RegExp(`Subject: ${SUBJECT}`));
    assert.equal((await alice.ssh("sudo -n id -u")).trim(), "0");
    assert.equal((await alice.ssh("readlink -f /usr/sbin/sendmail")).trim(), "/usr/bin/msmtp");

    const refused = async (options: string[]) => run("ssh", [...SSH_OPTIONS, ...options, `alice@${alice.ip}`, "true"], { timeout: 30_000 }).then(() => "logged in", (e: { stderr: string }) => e.stderr);
    assert.match(await refused(["-o", "IdentitiesOnly=yes", "-i", alice.otherKey]), /Permission denied \(publickey\)/);
    // The server offers no password method at all.
    assert.match(await refused(["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"]), /Permission denied \(publickey\)/);
    assert.match(await refused(["-o", "IdentitiesOnly=yes", "-i", alice.key, "-l", "root"]), /Permission denied/);
  });

  it("shows the INBOX and the folders in neomutt", async (t) => {
    const scope = dockerScope(t, engine!);
    const alice = await startAlice(scope, image, await scope.network());
    const socket = path.join(await scope.dir("semail-tmux-"), "tmux");
    const tmux = (...args: string[]) => run("tmux", ["-S", socket, ...args], { timeout: 10_000 }).then((r) => r.stdout);
    t.after(() => tmux("kill-server").catch(() => undefined));
    const ssh = [...SSH_OPTIONS, "-tt", "-o", "IdentitiesOnly=yes", "-i", alice.key, `alice@${alice.ip}`, "neomutt"].map((a) => `'${a}'`).join(" ");
    await tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30", `ssh ${ssh}`);
    const screen = async (want: RegExp, what: string): Promise<string> => {
      let text = "";
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
        text = await tmux("capture-pane", "-p");
        if (want.test(text)) return text;
      }
      assert.fail(`neomutt did not show ${what}; the screen:\n${text}`);
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
    // A stand-in for the outbound daemon, on the host's side of the test's network.
    const gateway = (await engine!.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network])).trim();
    const received: { user?: string; password?: string; from?: string; to?: string[]; data?: string } = {};
    const server = new SMTPServer({
      authOptional: false, allowInsecureAuth: true, disabledCommands: ["STARTTLS"], logger: false,
      onAuth(auth, _session, done) {
        received.user = auth.username ?? "";
        received.password = auth.password ?? "";
        done(null, { user: received.user });
      },
      onData(stream, session, done) {
        received.from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        received.to = session.envelope.rcptTo.map((r) => r.address);
        let data = "";
        stream.setEncoding("utf8").on("data", (d: string) => (data += d)).on("end", () => {
          received.data = data;
          done();
        });
      },
    });
    await new Promise<void>((ok) => server.listen(0, gateway, ok));
    t.after(() => new Promise<void>((ok) => server.close(() => ok())));
    const port = (server.server.address() as { port: number }).port;

    const alice = await startAlice(scope, image, network, [`SEMAIL_SUBMISSION=${gateway}:${port}`]);
    const noPassword = await alice.ssh("printf 'To: bob@example.org\\n\\nx\\n' | /usr/sbin/sendmail -t 2>&1 || true");
    assert.match(noPassword, /put your SEMail password in it/);
    await alice.ssh("(umask 077; echo 'alice-Secret1' >~/.semail-password) && printf 'To: bob@example.org\\nSubject: from the container\\n\\nhello\\n' | /usr/sbin/sendmail -t");
    assert.deepEqual([received.user, received.password, received.from, received.to], ["alice", "alice-Secret1", ADDRESS, ["bob@example.org"]]);
    assert.match(received.data ?? "", /Subject: from the container/);
  });

  it("keeps its host key in the volume when the container is replaced, and refuses a wrong SEMAIL_UID", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const alice = await startAlice(scope, image, network);
    const hostKey = async (id: string) => (await engine!.docker(["exec", id, "cat", "/etc/ssh/keys/ssh_host_ed25519_key.pub"])).split(" ")[1];
    const before = await hostKey(alice.id);
    const inspect = JSON.parse(await engine!.docker(["inspect", alice.id])) as [{ Config: { Env: string[] }; HostConfig: { Binds: string[] } }];
    await engine!.docker(["rm", "-f", alice.id]);
    const binds = inspect[0].HostConfig.Binds.flatMap((b) => ["-v", b]);
    const env = inspect[0].Config.Env.filter((e) => e.startsWith("SEMAIL_")).flatMap((e) => ["-e", e]);
    const again = await scope.run(["--network", network, ...binds, ...env, image]);
    await scope.healthy(again);
    assert.equal(await hostKey(again), before);

    const wrongUid = await engine!.docker(["run", "--rm", ...binds, ...env, "-e", "SEMAIL_UID=1600", image]).then(() => "started", (e: Error) => e.message);
    assert.match(wrongUid, /SEMAIL_UID=1600 does not own \/mail \(its owner is uid 1500\)/);
    const badOwner = await engine!.docker(["run", "--rm", ...binds, ...env, "-e", "SEMAIL_OWNER=Alice!", image]).then(() => "started", (e: Error) => e.message);
    assert.match(badOwner, /SEMAIL_OWNER="Alice!" is not a login name/);
  });
});
