// `semail start`: all of SEMail on this machine, on loopback, with demo users. slapd and
// named run as children; the two daemons and the web form run in this process, so a
// local "stack update" can reload them and know when they have picked the change up.
import { access, mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { ConfigError, loadSettings, usersListOptions, type Settings } from "../config/settings.ts";
import { loadUsersList, watchUsersList, writeUsersList } from "../config/users-file.ts";
import { createDirectory } from "../directory/ldap.ts";
import { parseListenSpec, type ListenSpec } from "../mailservers/core/listen.ts";
import { startInbound } from "../mailservers/inbound/daemon.ts";
import { submissionListeners } from "../mailservers/inbound/submission-settings.ts";
import { startImap, type RunningImap } from "../services/imap/dovecot.ts";
import { startWebmail, type RunningWebmail } from "../services/webmail/roundcube.ts";
import { startOutbound } from "../mailservers/outbound/daemon.ts";
import { createLocalApplier, createLocalZone, releaseLocalMounts, type LocalApplierOptions } from "../deploy/local/applier.ts";
import { DEFAULT_PORTS, DEMO_ADMIN, DEMO_USERS, LOCAL_DOMAIN, freeLocalPorts, localSecrets, localSettingsYaml, type LocalPorts } from "../deploy/local/defaults.ts";
import { createLocalDns, readZoneFiles, servingClaimZoneFirst } from "../deploy/local/local-dns.ts";
import { localMailClients } from "../deploy/local/mail-clients.ts";
import { startNamed, type Zone } from "../deploy/local/named.ts";
import { canBind } from "../deploy/local/ports.ts";
import { makeReachable, reachableDir, REACHABLE_ROOT } from "../deploy/local/reachable-dir.ts";
import { loopsOfImages, stayText } from "../deploy/local/release-loop-mounts.ts";
import { startSlapd } from "../deploy/local/slapd.ts";
import { withLocalCertificate } from "../deploy/local/tls.ts";
import { startUserSpace, type UserSpace } from "../deploy/local/user-space.ts";
import { buildWebApp } from "../webform/app.ts";
import { createProofLookup } from "../webform/domain-proof.ts";
import type { Command } from "./command.ts";
import { banner, containersText } from "./start-banner.ts";
import { missingPackages } from "./local-packages.ts";
import { closedAncestor } from "../lib/closed-ancestor.ts";
import { createLogger } from "../lib/logger.ts";
import { RunningParts } from "./running-parts.ts";
import { trackApplied } from "./track-applied.ts";
import { untilStopSignal } from "./signals.ts";

const BASE_DN = "dc=semail,dc=test";

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function pickPorts(free: boolean): Promise<LocalPorts> {
  return free ? freeLocalPorts() : DEFAULT_PORTS;
}

function withoutWebmailLink(web: Settings["web"]): Settings["web"] {
  const { webmailUrl: _unused, ...rest } = web;
  return rest;
}

/** Dovecot on loopback over the same mail; `settings` name the local certificate. */
async function startLocalImap(settings: Settings, logger: ReturnType<typeof createLogger>): Promise<RunningImap> {
  const list = await loadUsersList(settings.users, usersListOptions(settings));
  return startImap({ settings, list, logger: logger.child({ service: "imap" }) });
}

/** The inbound daemon's listeners, each with its part's name for the port check and the banner. */
function inboundParts(settings: Settings): Array<{ listen: ListenSpec; part: string }> {
  const submission = submissionListeners(settings);
  return settings.inbound.listen.map((spec) => {
    const listen = parseListenSpec(spec);
    const part = !submission.has(spec) ? "inbound SMTP" : listen.implicitTls ? "submission over TLS" : "submission with STARTTLS";
    return { listen, part };
  });
}

/** Resolves when nothing listens on 127.0.0.1:port, else rejects naming the part and the way out. */
async function checkPortFree(port: number, part: string): Promise<void> {
  if (!(await canBind(port, "127.0.0.1"))) {
    throw new ConfigError(`port ${port} (${part}) is in use: stop what listens there, or start with free ports: \`npm start -- --free-ports\``);
  }
}

/**
 * Refuses, before any image is built, a setting other uids cannot reach: Dovecot's sessions
 * run as each mailbox's uid and PHP as www-data.
 */
async function checkReachable(settings: Settings, settingsFile: string): Promise<void> {
  const dirs: Array<[string, string]> = [["inbound.mailRoot", settings.inbound.mailRoot], ["imap.stateDir", settings.imap.stateDir], ["webmail.stateDir", settings.webmail.stateDir]];
  for (const [setting, dir] of dirs) {
    await makeReachable(dir);
    const closed = await closedAncestor(join(dir, "x"));
    if (closed !== undefined) {
      throw new ConfigError(`${setting} ${dir} (${settingsFile}): ${closed} is closed to other users (no o+x), so Dovecot's sessions and PHP cannot reach it: delete ${settingsFile} to have one made that keeps these under ${REACHABLE_ROOT}, or chmod o+x ${closed}`);
    }
  }
}

function portOf(url: string): number {
  return Number(/:(\d+)\/?$/.exec(url)?.[1]);
}

/** The settings of local mode (made on the first start), checked, with every port free and a users list. */
async function prepareDataDir(dataDir: string, freePorts: boolean): Promise<{ settings: Settings; settingsFile: string }> {
  const asRoot = process.getuid?.() === 0;
  // As root, Dovecot's sessions and PHP run as other uids and must pass through the data dir.
  if (asRoot) await makeReachable(dataDir);
  else await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const settingsFile = join(dataDir, "semail.yaml");
  if (freePorts || !(await exists(settingsFile))) {
    const reachable = asRoot ? await reachableDir(dataDir) : dataDir;
    await writeFile(settingsFile, localSettingsYaml(dataDir, await pickPorts(freePorts), BASE_DN, reachable));
  }
  const settings = await loadSettings(settingsFile);
  if (settings.web.apply.mode !== "local") throw new ConfigError(`${settingsFile}: web.apply.mode must be local for semail start`);
  if (asRoot) await checkReachable(settings, settingsFile);
  const parts: Array<[number, string]> = [
    [portOf(settings.ldap.url), "LDAP"],
    [portOf(settings.outbound.delivery.resolver ?? ""), "DNS"],
    ...inboundParts(settings).filter((p) => p.listen.host === "127.0.0.1").map((p): [number, string] => [p.listen.port, p.part]),
    [parseListenSpec(settings.outbound.listen[0]!).port, "submission"],
    [parseListenSpec(settings.web.listen).port, "web form"],
    ...(process.getuid?.() === 0
      ? [[settings.imap.imapPort, "IMAP"], [settings.imap.imapsPort, "IMAPS"], [settings.imap.pop3sPort, "POP3S"], [parseListenSpec(settings.webmail.listen).port, "webmail"]] as Array<[number, string]>
      : []),
  ];
  for (const [port, part] of parts) await checkPortFree(port, part);
  if (!(await exists(settings.users))) await writeUsersList(settings.users, []);
  return { settings, settingsFile };
}

const start: Command = {
  name: "start",
  ownSettings: "<data-dir>/semail.yaml",
  summary: "All of SEMail on this machine, on loopback: slapd with demo users, named with the local zone, both SMTP daemons and the web form.",
  flags: [
    { name: "data-dir", type: "string", value: "DIR", description: "where local mode keeps its settings, directory, zone, mail and queue (default var/local)" },
    { name: "free-ports", type: "boolean", description: "pick free loopback ports instead of the defaults (rewrites <data-dir>/semail.yaml)" },
    { name: "no-images", type: "boolean", description: "keep mailboxes as plain directories even as root (no image files, no loop mounts)" },
    { name: "no-containers", type: "boolean", description: "no users' containers, no Docker (mail is read from the files on this machine)" },
  ],
  async run(_defaults, { flags }) {
    const dataDir = resolve(typeof flags["data-dir"] === "string" ? flags["data-dir"] : "var/local");
    const asRoot = process.getuid?.() === 0 && flags["no-images"] !== true;
    const missing = await missingPackages(asRoot);
    if (missing.length > 0) throw new ConfigError(`missing programs; install them with:\n  apt-get install ${missing.join(" ")}`);

    const prepared = await prepareDataDir(dataDir, flags["free-ports"] === true);
    const settingsFile = prepared.settingsFile;
    let settings = prepared.settings;
    const secrets = await localSecrets(dataDir);

    const logger = createLogger(settings.log.level, "semail-start", pino.destination({ dest: join(dataDir, "semail.log"), mkdir: true, sync: false }));
    const parts = new RunningParts((line) => process.stdout.write(`${line}\n`), logger);
    const address = (listen: string) => listen.replace(/^ldap:\/\//, "");
    let signal: NodeJS.Signals | undefined;
    try {
      // First, as the daemons listen on its network: the users' containers' space (Docker).
      // A Ctrl-C while it starts (the first image build takes minutes) ends the build, and
      // what had started (our own dockerd) is stopped below.
      const starting = new AbortController();
      const interrupt = (sig: NodeJS.Signals) => {
        signal = sig;
        starting.abort();
      };
      process.once("SIGINT", interrupt).once("SIGTERM", interrupt);
      const space: UserSpace | { readonly reason: string } | undefined = flags["no-containers"] === true
        ? { reason: "started with --no-containers" }
        : await startUserSpace({
            dataDir, settings, freePorts: flags["free-ports"] === true, logger: logger.child({ service: "containers" }), signal: starting.signal,
            say: (line) => process.stdout.write(`${line}\n`), onStop: (name, stop) => parts.add(name, stop),
          })
            .catch((err: unknown) => {
              if (starting.signal.aborted) return undefined;
              throw err;
            })
            .finally(() => process.off("SIGINT", interrupt).off("SIGTERM", interrupt));
      // Interrupted: `finally` below stops what had started.
      if (space === undefined) return;
      if ("reason" in space) logger.info({ reason: space.reason }, "no users' containers");
      else settings = space.settings;
      const userSpace = "reason" in space ? undefined : space;

      const slapd = await startSlapd({
        dataDir: join(dataDir, "ldap"),
        baseDn: settings.ldap.baseDn,
        port: portOf(settings.ldap.url),
        users: [...DEMO_USERS, DEMO_ADMIN].map((uid) => ({ uid, password: secrets.passwords[uid]!, mail: `${uid}@${uid}.${LOCAL_DOMAIN}` })),
        admins: [DEMO_ADMIN],
        adminPassword: secrets.ldapAdminPassword,
        logger: logger.child({ service: "slapd" }),
      });
      parts.add(`slapd (LDAP on ${address(settings.ldap.url)})`, () => slapd.stop());

      // The inbound daemon's submission listeners and Dovecot speak TLS with the local certificate.
      const withTls = await withLocalCertificate(settings, dataDir);
      // Mail programs are told local mode's own ports (zone SRV records, the form's autoconfig).
      const mailClients = localMailClients(withTls, process.getuid?.() === 0);
      const zone = createLocalZone({ domain: LOCAL_DOMAIN, ipv4: "127.0.0.1", ipv6: "::1", serialFile: join(dataDir, "named", "serial"), mailClientPorts: mailClients.ports });
      // Zone files a tester keeps there stand in for other domains' DNS (local-dns.ts).
      const zonesDir = join(dataDir, "zones");
      await mkdir(zonesDir, { recursive: true });
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
      parts.add(`named (DNS on ${settings.outbound.delivery.resolver})`, () => named.stop());
      const dns = createLocalDns(named, zonesDir, managed, served);

      // `service`, not `part`: the daemons name their own parts (store, send, queue) with `part`.
      const inbound = await startInbound(withTls, { logger: logger.child({ service: "inbound" }) });
      // Stopped once, by whichever comes first: its own part, or the unmount, which must wait
      // for it (the store keeps mbox files open a moment between batches).
      let inboundStopped: Promise<void> | undefined;
      const stopInbound = () => (inboundStopped ??= inbound.stop());
      parts.add(`the inbound daemon (${settings.inbound.listen.join(", ")})`, stopInbound);
      const outbound = await startOutbound(settings, { logger: logger.child({ service: "outbound" }) });
      parts.add(`the outbound daemon (submission on ${settings.outbound.listen.join(", ")})`, () => outbound.stop());

      let imap: RunningImap | undefined;
      let webmail: RunningWebmail | undefined;
      const applierOptions: LocalApplierOptions = {
        mailRoot: settings.inbound.mailRoot,
        ...(asRoot ? { imageDir: join(dataDir, "images") } : {}),
        fstab: join(dataDir, "fstab"),
        zone,
        publishZone: (name, text) => dns.publish(text === undefined ? undefined : { name, text }),
        claimZones: { dir: zonesDir, mxHost: settings.web.mxHost ?? `mx.${LOCAL_DOMAIN}` },
        notifyDaemons: async () => {
          await inbound.reload();
          await outbound.reload();
          const list = await loadUsersList(settings.users, usersListOptions(settings));
          await imap?.reload(list);
          await webmail?.reload(list);
        },
        ...(userSpace ? { containers: userSpace.containers } : {}),
      };
      if (asRoot) parts.add(`the mailbox filesystems (unmounted from ${settings.inbound.mailRoot})`, async () => {
        await stopInbound();
        // A second Ctrl-C while a busy mailbox is waited for ends the wait; a third stops at once.
        const hurry = new AbortController();
        const again = () => hurry.abort();
        process.once("SIGINT", again);
        try {
          await releaseLocalMounts(applierOptions, { say: (line) => process.stdout.write(`${line}\n`), hurry: hurry.signal });
        } finally {
          process.off("SIGINT", again);
        }
      });
      // Stopped before their filesystems are unmounted (parts stop last-added first).
      if (userSpace) parts.add("the users' containers, the jump and the apt proxy (kept for the next start)", () => userSpace.containers.stop());
      // Dovecot runs each session as the mailbox's uid, so it needs root; it stops before the
      // filesystems it holds open are unmounted (parts stop last-added first).
      imap = process.getuid?.() === 0 ? await startLocalImap(withTls, logger) : undefined;
      if (imap) {
        const running = imap;
        parts.add(`Dovecot (IMAP ${running.host}:${running.ports.imap} STARTTLS, IMAPS :${running.ports.imaps}, POP3S :${running.ports.pop3s})`, () => running.stop());
        // The webmail reads through that Dovecot and sends through the outbound daemon.
        const started = await startWebmail({ settings, list: await loadUsersList(settings.users, usersListOptions(settings)), logger: logger.child({ service: "webmail" }) });
        webmail = started;
        parts.add(`the webmail (${started.url})`, () => started.stop());
      }
      const tracked = trackApplied(createLocalApplier(applierOptions));
      const lookupProof = createProofLookup({ servers: settings.web.dnsServers });
      const directory = createDirectory(settings.ldap, { logger: logger.child({ service: "ldap" }) });
      const { app, runner } = await buildWebApp({
        directory,
        usersFile: settings.users,
        usersListOptions: usersListOptions(settings),
        applier: tracked.applier,
        // No link to a webmail that is not running (not root): the page would show a dead one.
        web: webmail ? settings.web : withoutWebmailLink(settings.web),
        logger: logger.child({ service: "web" }),
        mailClients,
        usage: async (owner) => inbound.store.usage(owner).catch(() => undefined),
        largestMessage: async (owner) => inbound.largestMessage(owner).catch(() => undefined),
        // This machine's own submission port; the owner's container through the jump sshd,
        // or without Docker the mbox files on this machine.
        mailAccess: {
          submission: parseListenSpec(settings.outbound.listen[0]!),
          ...(settings.web.webmailUrl !== undefined ? { webmailUrl: settings.web.webmailUrl } : {}),
          reading: async (owner) => {
            if (!userSpace) return { kind: "files", inbox: join(settings.inbound.mailRoot, owner, "INBOX") };
            const command = await userSpace.containers.sshCommand(owner);
            return command === undefined ? undefined : { kind: "ssh", command };
          },
        },
        // The claim's stand-in zone is served before each look, the first one included.
        proofLookup: servingClaimZoneFirst(dns, applierOptions.claimZones!, lookupProof, (err) => logger.warn({ err: err.message }, "zone files not reloaded")),
      });
      parts.add(`the web form (http://${settings.web.listen}/)`, async () => {
        await app.close();
        await directory.close();
      });
      const web = parseListenSpec(settings.web.listen);
      await app.listen({ host: web.host, port: web.port });
      // Bring the machine in line with the list: mounts after a reboot, the zone, the daemons.
      runner.request("start");
      await runner.idle();
      // A hand edit of the users list is applied too, as the form's writes are.
      const watch = await watchUsersList(settings.users, usersListOptions(settings), logger.child({ service: "apply" }), (list) => {
        if (!tracked.covers(list)) runner.request("users list changed");
      });
      parts.add(`watching the users list (${settings.users})`, async () => watch.close());
      const failed = runner.status();
      if (failed.state === "failed") process.stderr.write(`warning: the first local apply failed: ${failed.reason}\n`);

      const storage = asRoot ? `ext4 image files in ${join(dataDir, "images")}, loop-mounted under ${settings.inbound.mailRoot}` : `plain directories under ${settings.inbound.mailRoot} (not root: no image files)`;
      const { mailboxes } = await loadUsersList(settings.users, usersListOptions(settings));
      const owners = mailboxes.map((m) => m.owner);
      const mx = inboundParts(settings).find((p) => p.part === "inbound SMTP")!.listen;
      process.stdout.write(banner(settings, { passwords: secrets.passwords, dataDir, storage, containers: await containersText(space, owners), inbound: mx, imap, webmail, mailClients, mailboxes }));
      const containers = userSpace ? { jumpPort: userSpace.jumpPort, network: userSpace.network.name, dockerHost: userSpace.docker.host } : { off: (space as { reason: string }).reason };
      await writeFile(join(dataDir, "ready.json"), `${JSON.stringify({ settings: settingsFile, pid: process.pid, passwords: secrets.passwords, containers })}\n`, { mode: 0o600 });
      signal = await untilStopSignal(logger, () => runner.request("SIGHUP"));
      await rm(join(dataDir, "ready.json"), { force: true });
    } finally {
      await parts.stopAll(signal ? `\nStopping SEMail (${signal === "SIGINT" ? "Ctrl-C" : signal}):` : "Stopping what had started:");
      // A loop device of ours still attached (a mailbox still in use) is said on the last line too, never hidden by it.
      const attached = asRoot ? await loopsOfImages(join(dataDir, "images")) : [];
      const stopped = attached.length === 0 ? "SEMail is stopped; its" : `SEMail is stopped, except: ${attached.map(stayText).join("; and ")}. Its`;
      if (signal) process.stdout.write(`${stopped} data stays in ${dataDir} for the next start.\n`);
      logger.flush();
    }
  },
};

export default start;
