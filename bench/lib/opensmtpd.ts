// A throwaway OpenSMTPD (Debian's opensmtpd, unpacked by peer-debs.ts) for the benches:
// `smtpd -f <conf> -d` as root, foreground, on a loopback port. Its Debian build has its
// paths compiled in, so it runs in a private view (private-view.ts) where they are folders
// of the temp dir: /var/spool (its queue, /var/spool/smtpd), /var/mail (the mbox files),
// /var/lib (its privsep chroot, opensmtpd/empty), /run (its control socket) and
// /usr/libexec (its delivery agents, from the unpacked package); its users (Debian names
// them opensmtpd and opensmtpq, not upstream's _smtpd and _smtpq), and one user per
// mailbox, exist only in that view's /etc/passwd.
//
// Configured as smtpd.conf(5) says for the job, defaults otherwise:
// - mbox: `action "local" mbox virtual <vusers>`: mail.local(8), its local delivery agent,
//   appends to /var/mail/<user> under its lockspool(8) dotlock and fsyncs before it exits;
//   the virtual table maps each address to its user, one uid per mailbox (view-only users).
//   smtpd commits each message to its queue (fsynced) before it answers the DATA.
// - relay: `action "relay" relay host smtp://127.0.0.1:<sink port>`.
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "./process.ts";
import { startPeerDaemon } from "./peer-daemon.ts";
import { unpackedPeer } from "./peer-debs.ts";
import type { PeerInstance, PeerJob } from "./peer-job.ts";
import { freeIds, type ViewUser } from "./private-view.ts";

export const OPENSMTPD_PACKAGES = ["opensmtpd"] as const;
const SMTPD = "usr/sbin/smtpd";
const MAIL_GID = 8; // Debian's group mail: /var/mail is root:mail 2775 and mail.local is setgid mail

function configuration(dir: string, port: number, job: PeerJob): string {
  const listen = `listen on 127.0.0.1 port ${port} hostname opensmtpd.bench.test`;
  if (job.kind === "relay")
    return [
      listen,
      `action "relay" relay host smtp://127.0.0.1:${job.sinkPort}`,
      'match from local for any action "relay"',
      "",
    ].join("\n");
  return [
    `table vusers file:${path.join(dir, "vusers")}`,
    listen,
    'action "local" mbox virtual <vusers>',
    `match from local for domain "${job.domain}" action "local"`,
    "",
  ].join("\n");
}

/** Starts OpenSMTPD under `dir` (a fresh temp dir, mode 0755); throws with its own words if it cannot. */
export async function startOpenSmtpd(dir: string, job: PeerJob): Promise<PeerInstance> {
  const peer = await unpackedPeer(OPENSMTPD_PACKAGES, [SMTPD, "usr/libexec/opensmtpd/mail.local"]);
  const mailboxes = job.kind === "mbox" ? job.mailboxes : [];
  const [smtpdId, queueId, ...mailboxIds] = await freeIds(2 + mailboxes.length);
  const users: ViewUser[] = [
    { name: "opensmtpd", uid: smtpdId!, gid: smtpdId!, home: "/var/lib/opensmtpd/empty" },
    { name: "opensmtpq", uid: queueId!, gid: queueId!, home: "/var/lib/opensmtpd/empty" },
  ];
  const folders = { spool: "var-spool", mail: "var-mail", lib: "var-lib", run: "run" };
  for (const sub of Object.values(folders)) await mkdir(path.join(dir, sub), { recursive: true });
  await mkdir(path.join(dir, folders.lib, "opensmtpd", "empty"), { recursive: true });
  let mailDir = path.join(dir, folders.mail);
  if (job.kind === "mbox") {
    mailDir = job.mailDir;
    await mkdir(mailDir, { recursive: true });
    await writeFile(path.join(dir, "vusers"), job.mailboxes.map((m) => `${m}@${job.domain} ${m}\n`).join(""));
    // A uid each: lockspool names its dotlock after the uid's user, so a shared uid would
    // make every mailbox wait on one lock.
    for (const [i, name] of mailboxes.entries())
      users.push({ name, uid: mailboxIds[i]!, gid: mailboxIds[i]!, home: mailDir });
  }
  await chown(mailDir, 0, MAIL_GID);
  await chmod(mailDir, 0o2775);
  const port = await freePort();
  const conf = path.join(dir, "smtpd.conf");
  await writeFile(conf, configuration(dir, port, job));
  const view = {
    users,
    binds: [
      { source: path.join(peer.root, "usr/libexec"), target: "/usr/libexec" },
      { source: path.join(dir, folders.spool), target: "/var/spool" },
      { source: mailDir, target: "/var/mail" },
      { source: path.join(dir, folders.lib), target: "/var/lib" },
      { source: path.join(dir, folders.run), target: "/run" },
    ],
  };
  return startPeerDaemon({
    program: "smtpd",
    name: `opensmtpd ${peer.version}`,
    dir,
    view,
    command: path.join(peer.root, SMTPD),
    args: ["-f", conf, "-d"],
    port,
    libraryPath: peer.libraryPath,
  });
}
