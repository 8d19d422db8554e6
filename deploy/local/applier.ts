// Local mode's "stack update": the steps the Pulumi components run on a real VM, run
// directly on this machine. Each mailbox gets its filesystem (an image file on a loop
// mount as root, else a plain directory), the zone gets its MX records and named
// reloads, and the daemons are handed the users list (read once, by whoever asked for
// the apply). With Docker, each mailbox also gets its container (containers.ts). A
// removed mailbox is unmounted, its container removed and its MX dropped; its mail stays
// on disk. Only this host's mailboxes (config/mailboxes-here.ts) are made here: one whose
// entry comes to name another host is taken down as a removed one, its mail kept. Each
// mailbox is owned by its own uid (mailUid), as on the VM. An applier remembers the
// filesystems it has made, so one added mailbox costs one mailbox's work, not a pass over
// every mailbox in the list (bench/scale).
import { execFile } from "node:child_process";
import { chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { nextSerial, renderZone } from "../../config/stack/zone-file.ts";
import { domainMx, type PeerHost } from "../../config/stack/mx-hosts.ts";
import { MAIN_HOST } from "../../config/mailbox-host.ts";
import { mailboxesHere } from "../../config/mailboxes-here.ts";
import type { MailClientPorts } from "../../config/mail-clients.ts";
import type { TransportSecurity } from "../../config/stack/transport-security.ts";
import { mailUid } from "../../config/mail-uid.ts";
import type { MailboxEntry, UsersList } from "../../config/users-list.ts";
import { provisionPlainRoot } from "../../config/mailbox-layout.ts";
import type { Applier, ApplyContext } from "../../config/applier.ts";
import type { LocalContainers } from "./containers.ts";
import { writeClaimZones } from "./local-dns.ts";
import { decideKeptMail, keptMailOf, recordAddress, setAsideIfAnother } from "./kept-mail.ts";
import { releaseLoopMounts, type LoopMount, type ReleaseOptions, type StaysAttached } from "./release-loop-mounts.ts";

const run = promisify(execFile);
const MAILBOX_FS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "assets", "host", "mailbox-fs.sh");

export interface LocalApplierOptions {
  /** Where mailbox roots live: <mailRoot>/<owner>. */
  readonly mailRoot: string;
  /** This host's name (the settings' hostName, default main): only its mailboxes get filesystems and containers here. */
  readonly hostName?: string;
  /** Image files (root only); undefined keeps mailboxes as plain directories. */
  readonly imageDir?: string;
  /** fstab the host script maintains; local mode keeps its own, not /etc/fstab. */
  readonly fstab: string;
  /** The managed zone, rendered from the list. */
  readonly zone: LocalZone;
  /** Serves the rendered zone, or (text undefined) the same one beside changed zone files (named's reload). */
  readonly publishZone: (name: string, text: string | undefined) => Promise<void>;
  /** Where domains claimed on the form get their stand-in zone files, and the MX host those name. */
  readonly claimZones?: { readonly dir: string; readonly mxHost: string };
  /** Hands the daemons (and Dovecot, the webmail) the list this apply made the machine match, read once by whoever asked for the apply. */
  readonly notifyDaemons: (list: UsersList) => Promise<void>;
  /** The users' containers, when local mode has Docker. */
  readonly containers?: LocalContainers;
  /**
   * The running inbound store's `release`: lets go of a mailbox's filesystem before it is
   * unmounted or resized (its mbox files stay open a moment between messages), and holds
   * its deliveries until the answered function is called.
   */
  readonly releaseMailbox?: (owner: string) => Promise<() => void>;
}

export interface LocalZoneOptions {
  readonly domain: string;
  readonly ipv4: string;
  readonly ipv6?: string;
  /** Keeps the last serial across starts, so a restarted named never sees it go back. */
  readonly serialFile: string;
  /** The ports the SRV records announce: those local mode listens on (default the standard ones). */
  readonly mailClientPorts?: MailClientPorts;
  /** MTA-STS, TLS-RPT and the MX's TLSA (from local mode's certificate); default MTA-STS enforce, no TLSA. */
  readonly transport?: TransportSecurity;
  /** This host's name (settings' hostName): its mailboxes' domains get mx.<domain>; default main. */
  readonly hostName?: string;
  /** The other SEMail hosts (settings' hosts): their mailboxes' domains get their MX name (config/stack/mx-hosts.ts). */
  readonly hosts?: Readonly<Record<string, PeerHost>>;
}

/**
 * The managed zone of local mode. As install-zone.sh does on the VM, a new serial (and a
 * reload) comes only with a change of records: `render` answers undefined when the records
 * are those it rendered last.
 */
export function createLocalZone(options: LocalZoneOptions) {
  let rendered: string | undefined;
  const hostName = options.hostName ?? MAIN_HOST;
  const hosts = options.hosts ?? {};
  const text = (list: UsersList, serial: number) => {
    // Local mode publishes its own zone: its own mailboxes on its mx, the others' on their host's.
    const mx = domainMx(list.mailboxes, hosts, options.domain, "hosts", hostName);
    if (mx.problems.length > 0) throw new Error(`the zone cannot name every mailbox's MX: ${mx.problems.join("; ")}`);
    return renderZone({
      domain: options.domain,
      serial,
      ipv4: options.ipv4,
      ipv6: options.ipv6,
      mailboxDomains: list.mailboxes.map((m) => m.domain),
      mailboxMx: mx.mx,
      otherHosts: Object.entries(hosts).flatMap(([name, host]) => (name === hostName ? [] : [host])),
      dmarcPolicy: "none",
      ...(options.mailClientPorts ? { mailClientPorts: options.mailClientPorts } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
    });
  };
  return {
    domain: options.domain,
    async render(list: UsersList, now = new Date()): Promise<string | undefined> {
      const records = text(list, 0);
      if (records === rendered) return undefined;
      const previous = Number((await readFile(options.serialFile, "utf8").catch(() => "")).trim()) || undefined;
      const serial = nextSerial(previous, now);
      await mkdir(dirname(options.serialFile), { recursive: true });
      await writeFile(options.serialFile, `${serial}\n`);
      rendered = records;
      // The serial sits alone on its marked line (renderZone): set there, not rendered again.
      return records.replace(/^(\s*)0 ; serial$/m, `$1${serial} ; serial`);
    },
  };
}

export type LocalZone = ReturnType<typeof createLocalZone>;

async function mailboxFs(
  action: "grow" | "unmount",
  owner: string,
  size: number,
  options: LocalApplierOptions,
  lazy = false,
): Promise<void> {
  // The store lets go first, or the unmount (of a resize too) finds its files open: EBUSY.
  const resume = await options.releaseMailbox?.(owner);
  try {
    await runMailboxFs(action, owner, size, options, lazy);
  } finally {
    resume?.();
  }
}

async function runMailboxFs(
  action: "grow" | "unmount",
  owner: string,
  size: number,
  options: LocalApplierOptions,
  lazy: boolean,
): Promise<void> {
  const uid = String(mailUid(owner));
  const args = [
    MAILBOX_FS,
    action,
    "--owner",
    owner,
    "--size",
    String(size),
    "--mail-root",
    options.mailRoot,
    "--image-dir",
    options.imageDir!,
    "--fstab",
    options.fstab,
    "--uid",
    uid,
    "--gid",
    uid,
    ...(lazy ? ["--lazy"] : []),
  ];
  try {
    await run("bash", args, { timeout: 120_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? "").trim();
    throw new Error(`${action} of ${owner}'s filesystem failed: ${stderr || (err as Error).message}`);
  }
}

/** Owners whose image is mounted under the mail root, read back from our own fstab. */
async function mountedOwners(options: LocalApplierOptions): Promise<Set<string>> {
  let text = "";
  try {
    text = await readFile(options.fstab, "utf8");
  } catch {
    return new Set();
  }
  const owners = new Set<string>();
  for (const line of text.split("\n")) {
    const target = line.split(" ")[1];
    if (target?.startsWith(`${options.mailRoot}/`)) owners.add(target.slice(options.mailRoot.length + 1));
  }
  return owners;
}

/** Every mount point on this machine now, from one read of /proc/self/mountinfo (octal escapes decoded). */
async function mountPoints(): Promise<Set<string>> {
  const text = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const points = new Set<string>();
  for (const line of text.split("\n")) {
    const point = line.split(" ")[4];
    if (point)
      points.add(point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return points;
}

/**
 * Unmounts every mailbox filesystem local mode mounted (at stop) and detaches its loop
 * device; images and mail stay. A mailbox still in use is named with what holds it, waited
 * for, then unmounted lazily: the answer lists the loop devices that stay attached.
 */
export async function releaseLocalMounts(
  options: LocalApplierOptions,
  release: ReleaseOptions = {},
): Promise<StaysAttached[]> {
  if (options.imageDir === undefined) return [];
  const mounts = [...(await mountedOwners(options))].map(
    (owner): LoopMount => ({
      name: `${owner}'s mailbox`,
      target: join(options.mailRoot, owner),
      image: join(options.imageDir!, `${owner}.img`),
      unmount: (lazy) => mailboxFs("unmount", owner, 0, options, lazy),
    }),
  );
  return releaseLoopMounts(mounts, release);
}

export function createLocalApplier(options: LocalApplierOptions): Applier {
  // owner -> the size its filesystem was last made or grown to by this applier. A mailbox
  // found here at the same size, whose root is still there (mounted, for an image), is
  // not done again: its work is a bash script per mailbox, or a few syscalls. A new
  // applier (local mode's next start) checks every mailbox once.
  const made = new Map<string, number>();
  const done = (owner: string, size: number, present: ReadonlySet<string>, path: string) =>
    made.get(owner) === size && present.has(path);
  // The filesystem of a deleted mailbox is kept: it goes to the same address again, or the
  // one its owner chose on the form, never silently to another (kept-mail.ts).
  const keepForAddress = async (m: MailboxEntry, logger: Logger) => {
    const aside = await setAsideIfAnother(options, m.owner, m.address);
    if (aside)
      logger.warn(
        { owner: m.owner, address: m.address, setAside: aside },
        "the kept mail of an earlier mailbox of this owner, made for another address, is set aside (not deleted); the new mailbox starts empty",
      );
  };
  const isMounted = async (owner: string) =>
    options.imageDir !== undefined && (await mountPoints()).has(join(options.mailRoot, owner));
  return {
    name: "local",
    ...(options.containers ? { sshCommand: (owner: string) => options.containers!.sshCommand(owner) } : {}),
    keptMail: async (owner) => keptMailOf(options, owner, await isMounted(owner)),
    decideKeptMail: async (owner, address, choice) =>
      decideKeptMail(options, owner, address, choice, await isMounted(owner)),
    async apply({ list: whole, logger, signal }: ApplyContext): Promise<void> {
      // Filesystems and containers for this host's mailboxes only; the zone and the daemons get the whole list.
      const list = mailboxesHere(whole, options.hostName ?? MAIN_HOST);
      await mkdir(options.mailRoot, { recursive: true });
      if (options.imageDir === undefined) {
        logger.info("not root: mailboxes are plain directories, not image files on loop mounts");
        const roots = new Set(await readdir(options.mailRoot));
        // A mailbox made again is made anew: its kept root is judged again (keepForAddress).
        for (const owner of made.keys()) if (!list.byOwner(owner)) made.delete(owner);
        for (const m of list.mailboxes) {
          if (done(m.owner, m.size, roots, m.owner)) continue;
          await keepForAddress(m, logger);
          await provisionPlainRoot(options.mailRoot, m.owner);
          // As mailbox-fs.sh does: the root, INBOX and mail/ are the owner's (only root can chown).
          if (process.geteuid?.() === 0) {
            const uid = mailUid(m.owner);
            for (const path of ["", "INBOX", "mail"]) await chown(join(options.mailRoot, m.owner, path), uid, uid);
          }
          await recordAddress(options, m.owner, m.address);
          made.set(m.owner, m.size);
        }
      } else {
        // `grow` creates a missing filesystem and enlarges one whose size went up.
        const mounted = await mountPoints();
        for (const m of list.mailboxes) {
          if (signal.aborted) throw new Error("stopped before the apply finished");
          if (done(m.owner, m.size, mounted, join(options.mailRoot, m.owner))) continue;
          if (!mounted.has(join(options.mailRoot, m.owner))) await keepForAddress(m, logger);
          await mailboxFs("grow", m.owner, m.size, options);
          await recordAddress(options, m.owner, m.address);
          made.set(m.owner, m.size);
        }
      }
      await options.containers?.sync(list, signal);
      // After sync: a removed mailbox's container goes first, with whatever it held open
      // in the filesystem (a login's cwd is the home, /mail/home), so the unmount finds it free.
      if (options.imageDir !== undefined) {
        for (const owner of await mountedOwners(options)) {
          if (list.byOwner(owner)) continue;
          await mailboxFs("unmount", owner, 0, options);
          made.delete(owner);
        }
      }
      const zone = await options.zone.render(whole);
      const claimed = options.claimZones
        ? await writeClaimZones(options.claimZones.dir, whole.pending, options.claimZones.mxHost)
        : 0;
      if (zone !== undefined || claimed > 0) await options.publishZone(options.zone.domain, zone);
      await options.notifyDaemons(whole);
      logger.info(
        { mailboxes: list.mailboxes.length, elsewhere: whole.mailboxes.length - list.mailboxes.length },
        "local apply done",
      );
    },
  };
}
