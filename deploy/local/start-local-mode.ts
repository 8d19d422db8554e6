// Local mode: all of SEMail on this machine, on loopback, with demo users. slapd and named
// run as children; the two daemons, Dovecot, the webmail and the web form run in this
// process, so a local "stack update" hands them the users list it applied and knows when
// they have it. The caller (cli/start.ts) owns the process: flags, signals, the banner.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { usersListOptions, type Settings } from "../../config/settings.ts";
import { loadUsersList, watchUsersList } from "../../config/users-file.ts";
import type { MailboxEntry, UsersList } from "../../config/users-list.ts";
import { mailboxesHere } from "../../config/mailboxes-here.ts";
import { otherMxNames } from "../../config/stack/mx-hosts.ts";
import type { MailClientServers } from "../../config/mail-clients.ts";
import { DEFAULT_TRANSPORT_SECURITY, spkiSha256 } from "../../config/stack/transport-security.ts";
import { startInbound } from "../../mailservers/inbound/daemon.ts";
import { startOutbound } from "../../mailservers/outbound/daemon.ts";
import { startImap, type RunningImap } from "../../services/imap/dovecot.ts";
import { startWebmail, type RunningWebmail } from "../../services/webmail/roundcube.ts";
import { createLocalApplier, createLocalZone, releaseLocalMounts, type LocalApplierOptions } from "./applier.ts";
import { DEMO_ADMIN, DEMO_USERS, LOCAL_DOMAIN, type LocalSecrets } from "./defaults.ts";
import { createLocalDns, readZoneFiles } from "./local-dns.ts";
import { portOf } from "./local-settings.ts";
import { localMailClients } from "./mail-clients.ts";
import { startNamed, type Zone } from "./named.ts";
import { startSlapd } from "./slapd.ts";
import { withLocalCertificate } from "./tls.ts";
import { trackApplied } from "./track-applied.ts";
import { startUserSpace, type UserSpace } from "./user-space.ts";
import type { LocalWebForm, LocalWebFormParts } from "./web-form-parts.ts";

export interface LocalModeOptions {
  readonly dataDir: string;
  /** Local mode's own settings, checked (local-settings.ts). */
  readonly settings: Settings;
  readonly secrets: LocalSecrets;
  /** Mailboxes as image files on loop mounts (root); otherwise plain directories. */
  readonly images: boolean;
  /** The users' containers (Docker); otherwise mail is read from the files here. */
  readonly containers: boolean;
  readonly freePorts: boolean;
  readonly logger: Logger;
  /** A line on the terminal. */
  readonly say: (line: string) => void;
  /** Registers what started, to be stopped last-added first (RunningParts.add). */
  readonly onStop: (name: string, stop: () => Promise<void>) => void;
  /** Aborted by a stop asked while starting: the users' space (its first image build takes minutes) gives up. */
  readonly signal: AbortSignal;
  /** Runs the unmount at stop with a signal that a further stop request aborts (ends the wait for a busy mailbox). */
  readonly hurry: (work: (signal: AbortSignal) => Promise<void>) => Promise<void>;
  /** Starts the web form over the parts (the caller's: the form is an application beside this deployer). */
  readonly startWebForm: (parts: LocalWebFormParts) => Promise<LocalWebForm>;
}

export interface LocalMode {
  /** The settings as the parts run with them (outbound also on the users' network). */
  readonly settings: Settings;
  readonly space: UserSpace | { readonly reason: string };
  readonly imap: RunningImap | undefined;
  readonly webmail: RunningWebmail | undefined;
  readonly mailClients: MailClientServers;
  /** The live mailboxes once the first apply is done. */
  readonly mailboxes: readonly MailboxEntry[];
  /** Why the first apply failed, if it did. */
  readonly firstApplyFailed: string | undefined;
  /** Asks for an apply of the users list as it is on disk (SIGHUP). */
  requestApply(why: string): void;
}

/** Starts every part, registering each with `onStop`; undefined when a stop was asked while the users' space started. */
export async function startLocalMode(o: LocalModeOptions): Promise<LocalMode | undefined> {
  const { dataDir, logger, secrets } = o;
  let settings = o.settings;
  const address = (listen: string) => listen.replace(/^ldap:\/\//, "");
  // First, as the daemons listen on its network: the users' containers' space (Docker).
  const space: UserSpace | { readonly reason: string } | undefined = !o.containers
    ? { reason: "started with --no-containers" }
    : await startUserSpace({
        dataDir,
        settings,
        freePorts: o.freePorts,
        logger: logger.child({ service: "containers" }),
        signal: o.signal,
        say: o.say,
        onStop: o.onStop,
      }).catch((err: unknown) => {
        if (o.signal.aborted) return undefined;
        throw err;
      });
  if (space === undefined) return undefined;
  if ("reason" in space) logger.info({ reason: space.reason }, "no users' containers");
  else settings = space.settings;
  const userSpace = "reason" in space ? undefined : space;

  const slapd = await startSlapd({
    dataDir: join(dataDir, "ldap"),
    baseDn: settings.ldap.baseDn,
    port: portOf(settings.ldap.url),
    users: [...DEMO_USERS, DEMO_ADMIN].map((uid) => ({
      uid,
      password: secrets.passwords[uid]!,
      mail: `${uid}@${uid}.${LOCAL_DOMAIN}`,
    })),
    admins: [DEMO_ADMIN],
    // A demo mailing list (inbound.lists): its members get posts once they have a mailbox.
    lists: [{ cn: "team", mail: `team@${LOCAL_DOMAIN}`, members: [...DEMO_USERS], owners: [DEMO_USERS[0]] }],
    adminPassword: secrets.ldapAdminPassword,
    logger: logger.child({ service: "slapd" }),
  });
  o.onStop(`slapd (LDAP on ${address(settings.ldap.url)})`, () => slapd.stop());

  // The inbound daemon's submission listeners and Dovecot speak TLS with the local certificate.
  const withTls = await withLocalCertificate(settings, dataDir);
  const asRoot = process.getuid?.() === 0;
  // Mail programs are told local mode's own ports (zone SRV records, the form's autoconfig).
  const mailClients = localMailClients(withTls, asRoot);
  // DANE as on the VM: the TLSA record of the key the inbound daemon's TLS serves.
  const transport = {
    ...DEFAULT_TRANSPORT_SECURITY,
    tlsa: [spkiSha256(await readFile(withTls.tls.cert!))],
    // The MTA-STS policy names the other hosts' MX too: domains whose mailboxes live there have it.
    otherMx: otherMxNames(settings.hosts, LOCAL_DOMAIN),
  };
  const zone = createLocalZone({
    domain: LOCAL_DOMAIN,
    ipv4: "127.0.0.1",
    ipv6: "::1",
    serialFile: join(dataDir, "named", "serial"),
    mailClientPorts: mailClients.ports,
    transport,
    hostName: settings.hostName,
    hosts: settings.hosts,
  });
  // Zone files a tester keeps there stand in for other domains' DNS (local-dns.ts).
  const zonesDir = join(dataDir, "zones");
  await mkdir(zonesDir, { recursive: true });
  // Read once here; from now on each apply hands every part the list it applied.
  const list = await loadUsersList(settings.users, usersListOptions(settings));
  // A first render always has text: nothing was rendered before.
  const managed: Zone = { name: LOCAL_DOMAIN, text: (await zone.render(list))! };
  const served = [...(await readZoneFiles(zonesDir)).filter((z) => z.name !== LOCAL_DOMAIN), managed];
  const named = await startNamed({
    dataDir: join(dataDir, "named"),
    port: portOf(settings.outbound.delivery.resolver ?? ""),
    zones: served,
    logger: logger.child({ service: "named" }),
  });
  o.onStop(`named (DNS on ${settings.outbound.delivery.resolver})`, () => named.stop());
  const dns = createLocalDns(named, zonesDir, managed, served);

  // `service`, not `part`: the daemons name their own parts (store, send, queue) with `part`.
  const inbound = await startInbound(withTls, { logger: logger.child({ service: "inbound" }), usersList: list });
  // Stopped once, by whichever comes first: its own part, or the unmount, which must wait for it.
  let inboundStopped: Promise<void> | undefined;
  const stopInbound = () => (inboundStopped ??= inbound.stop());
  o.onStop(`the inbound daemon (${settings.inbound.listen.map((l) => l.spec).join(", ")})`, stopInbound);
  const outbound = await startOutbound(settings, { logger: logger.child({ service: "outbound" }), usersList: list });
  o.onStop(`the outbound daemon (submission on ${settings.outbound.listen.map((l) => l.spec).join(", ")})`, () =>
    outbound.stop(),
  );

  let imap: RunningImap | undefined;
  let webmail: RunningWebmail | undefined;
  const applierOptions: LocalApplierOptions = {
    mailRoot: settings.inbound.mailRoot,
    hostName: settings.hostName,
    ...(o.images ? { imageDir: join(dataDir, "images") } : {}),
    fstab: join(dataDir, "fstab"),
    zone,
    publishZone: (name, text) => dns.publish(text === undefined ? undefined : { name, text }),
    claimZones: { dir: zonesDir, mxHost: settings.web.mxHost ?? `mx.${LOCAL_DOMAIN}` },
    notifyDaemons: async (applied: UsersList) => {
      await inbound.reload(applied);
      await outbound.reload(applied);
      // Dovecot and the webmail serve this host's mailboxes; the daemons read the whole list.
      await imap?.reload(mailboxesHere(applied, settings.hostName));
      await webmail?.reload(mailboxesHere(applied, settings.hostName));
    },
    ...(userSpace ? { containers: userSpace.containers } : {}),
    releaseMailbox: (owner) => inbound.store.release(owner),
  };
  if (o.images) {
    o.onStop(`the mailbox filesystems (unmounted from ${settings.inbound.mailRoot})`, async () => {
      await stopInbound();
      await o.hurry(async (hurry) => void (await releaseLocalMounts(applierOptions, { say: o.say, hurry })));
    });
  }
  // Stopped before their filesystems are unmounted (parts stop last-added first).
  if (userSpace)
    o.onStop("the users' containers, the jump and the apt proxy (kept for the next start)", () =>
      userSpace.containers.stop(),
    );
  // Dovecot runs each session as the mailbox's uid, so it needs root; it stops before the
  // filesystems it holds open are unmounted (parts stop last-added first).
  if (asRoot) {
    const running = await startImap({
      settings: withTls,
      list: mailboxesHere(list, settings.hostName),
      logger: logger.child({ service: "imap" }),
    });
    imap = running;
    o.onStop(
      `Dovecot (IMAP ${running.host}:${running.ports.imap} STARTTLS, IMAPS :${running.ports.imaps}, POP3S :${running.ports.pop3s})`,
      () => running.stop(),
    );
    // The webmail reads through that Dovecot and sends through the outbound daemon.
    const started = await startWebmail({
      settings,
      list: mailboxesHere(list, settings.hostName),
      logger: logger.child({ service: "webmail" }),
    });
    webmail = started;
    o.onStop(`the webmail (${started.url})`, () => started.stop());
  }
  // Recorded for `semail report` where the settings say (a data dir made before has no such setting).
  const tracked = trackApplied(createLocalApplier(applierOptions), settings.report.appliedUsersFile);
  const form = await o.startWebForm({
    settings,
    applier: tracked.applier,
    webmailRuns: webmail !== undefined,
    mailClients,
    transport,
    logger,
    usage: async (owner) => inbound.store.usage(owner).catch(() => undefined),
    largestMessage: async (owner) => inbound.largestMessage(owner).catch(() => undefined),
    // The owner's container through the jump sshd, or without Docker the mbox files here.
    reading: async (owner) => {
      if (!userSpace) return { kind: "files", inbox: join(settings.inbound.mailRoot, owner, "INBOX") };
      const command = await userSpace.containers.sshCommand(owner);
      return command === undefined ? undefined : { kind: "ssh", command };
    },
    dns,
    claimZones: applierOptions.claimZones!,
  });
  o.onStop(`the web form (http://${settings.web.listen.spec}/)`, () => form.close());
  // Bring the machine in line with the list: mounts after a reboot, the zone, the daemons.
  form.runner.request("start");
  await form.runner.idle();
  // A hand edit of the users list is applied too, as the form's writes are; the form's own
  // writes (the text of the list last applied) are not even parsed again.
  const watch = await watchUsersList(
    settings.users,
    usersListOptions(settings),
    logger.child({ service: "apply" }),
    (changed) => {
      if (!tracked.covers(changed)) form.runner.request("users list changed");
    },
    tracked.knows,
  );
  o.onStop(`watching the users list (${settings.users})`, async () => watch.close());
  const status = form.runner.status();
  return {
    settings,
    space,
    imap,
    webmail,
    mailClients,
    mailboxes: watch.current().mailboxes,
    firstApplyFailed: status.state === "failed" ? status.reason : undefined,
    requestApply: (why) => form.runner.request(why),
  };
}
