// The VM's services that are not Node, as local mode runs them, on loopback with free ports:
// slapd (the directory), named (the managed zone, a zone whose MX is the sink, and the load's
// sender domain, with SPF and DMARC), Dovecot and the webmail over the users' mbox files, and
// smtp-sink standing in for the Internet's MX hosts. Also the one settings file every SEMail
// process reads, with each part's port, and the same with the arrival checks on for loopback.
import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { mailUid } from "../../config/mail-uid.ts";
import { loadSettings, usersListOptions, type Settings } from "../../config/settings.ts";
import { loadUsersList } from "../../config/users-file.ts";
import { renderZone } from "../../config/stack/zone-file.ts";
import { provisionPlainRoot } from "../../config/mailbox-layout.ts";
import { localCertificate } from "../../services/imap/certificate.ts";
import { startImap, type RunningImap } from "../../services/imap/dovecot.ts";
import { startNamed, type RunningNamed } from "../../deploy/local/named.ts";
import { startSlapd, type RunningSlapd } from "../../deploy/local/slapd.ts";
import { startWebmail, type RunningWebmail } from "../../services/webmail/roundcube.ts";
import { freePort } from "../lib/process.ts";
import { startSink, type Sink } from "../relay/sink.ts";

export const DOMAIN = "bench.test";
/** The Internet's domain the outbound load goes to: its MX is the sink. */
export const SINK_DOMAIN = "sink.test";
/** The inbound load's sender domain: SPF (its MX, 127.0.0.1) and DMARC pass when the arrival checks run. */
export const SOURCE_DOMAIN = "source.test";

export interface BenchUser {
  readonly owner: string;
  readonly password: string;
  readonly address: string;
}

/** A service to measure: its name and the pid at the root of its process tree. */
export interface Service {
  readonly name: string;
  /** SEMail's own daemons (Node): each is held to the USS target. */
  readonly daemon: boolean;
  pid(): Promise<number>;
}

export interface Stack {
  readonly dir: string;
  readonly settingsFile: string;
  /** The same settings with inbound.uncheckedNetworks empty: loopback's mail is checked (SPF, DKIM, DMARC, ARC) on the bench's named. */
  readonly checkedSettingsFile: string;
  readonly settings: Settings;
  readonly users: readonly BenchUser[];
  readonly mailRoot: string;
  readonly spool: string;
  readonly sink: Sink;
  readonly imap: RunningImap;
  readonly webmail: RunningWebmail;
  /** The non-Node services, measured beside the daemons. */
  readonly services: readonly Service[];
  stop(): Promise<void>;
}

const run = promisify(execFile);

export function benchUsers(mailboxes: number): BenchUser[] {
  return Array.from({ length: mailboxes }, (_, i) => {
    const owner = `box${String(i).padStart(2, "0")}`;
    return { owner, password: `${owner}-Secret1`, address: `${owner}@${DOMAIN}` };
  });
}

async function pidFile(file: string): Promise<number> {
  return Number((await readFile(file, "utf8").catch(() => "0")).trim()) || 0;
}

/** Starts every part in `dir` (which must be open to other users: Dovecot and PHP drop root). */
export async function startStack(dir: string, mailboxes: number): Promise<Stack> {
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const part of stops.splice(0).reverse())
      await part().catch((err: unknown) => console.error(`bench/memory: cleanup: ${(err as Error).message}`));
  };
  try {
    const users = benchUsers(mailboxes);
    const sink = await startSink(await freePort());
    stops.push(() => sink.stop());
    const slapd: RunningSlapd = await startSlapd({
      dataDir: join(dir, "slapd"),
      users: users.map((u) => ({ uid: u.owner, password: u.password, mail: u.address })),
      admins: [],
      adminPassword: "bench-Admin1",
    });
    stops.push(() => slapd.stop());

    const mailRoot = join(dir, "mail");
    const usersFile = join(dir, "users.yaml");
    await writeFile(
      usersFile,
      stringify({ mailboxes: users.map((u) => ({ owner: u.owner, address: u.address, size: "20GiB" })) }),
    );
    // As provisioning leaves them: each root made, then owned by its mail uid (Dovecot runs as it).
    for (const user of users) {
      await provisionPlainRoot(mailRoot, user.owner);
      await run("chown", ["-R", `${mailUid(user.owner)}:${mailUid(user.owner)}`, join(mailRoot, user.owner)]);
    }
    await chmod(mailRoot, 0o755);

    const mailboxDomains = users.map(() => DOMAIN);
    const named: RunningNamed = await startNamed({
      dataDir: join(dir, "named"),
      zones: [
        {
          name: DOMAIN,
          text: renderZone({ domain: DOMAIN, serial: 1, ipv4: "127.0.0.1", mailboxDomains, dmarcPolicy: "none" }),
        },
        {
          name: SINK_DOMAIN,
          text: renderZone({ domain: SINK_DOMAIN, serial: 1, ipv4: "127.0.0.1", mailboxDomains: [] }),
        },
        {
          name: SOURCE_DOMAIN,
          text: renderZone({
            domain: SOURCE_DOMAIN,
            serial: 1,
            ipv4: "127.0.0.1",
            mailboxDomains: [],
            dmarcPolicy: "none",
          }),
        },
      ],
    });
    stops.push(() => named.stop());

    const tls = await localCertificate(join(dir, "tls"), `mx.${DOMAIN}`);
    const spool = join(dir, "spool");
    await mkdir(spool, { recursive: true });
    const settingsFile = join(dir, "semail.yaml");
    const checkedSettingsFile = join(dir, "semail-checked.yaml");
    const common = {
      hostname: `mx.${DOMAIN}`,
      managedDomain: DOMAIN,
      users: usersFile,
      log: { level: "info" },
      tls,
      ldap: {
        url: slapd.url,
        baseDn: slapd.baseDn,
        userDnTemplate: slapd.userDnTemplate,
        adminGroupDn: slapd.adminGroupDn,
      },
      inbound: {
        listen: [`127.0.0.1:${await freePort()}`],
        mailRoot,
        maxConnectionsPerIp: 1000,
        minFreeSpace: "1GiB",
        // Used only where the checks run (checkedSettingsFile): every lookup stays on loopback.
        resolver: named.server,
      },
      outbound: {
        listen: [`127.0.0.1:${await freePort()}`],
        spool,
        // The sink's MX is on loopback, which here is no mail loop (as in local mode).
        delivery: {
          resolver: named.server,
          smtpPort: sink.port,
          localAddresses: [],
          localNames: [],
          ipFamily: "ipv4",
        },
      },
      imap: {
        listen: ["127.0.0.1"],
        imapPort: await freePort(),
        imapsPort: await freePort(),
        pop3sPort: await freePort(),
        stateDir: join(dir, "imap"),
      },
      webmail: { listen: `127.0.0.1:${await freePort()}`, stateDir: join(dir, "webmail") },
      web: {
        listen: `127.0.0.1:${await freePort()}`,
        secureCookies: false,
        dnsServers: [named.server],
        apply: { mode: "none" },
      },
    };
    await writeFile(settingsFile, stringify(common));
    await writeFile(
      checkedSettingsFile,
      stringify({ ...common, inbound: { ...common.inbound, uncheckedNetworks: [] } }),
    );
    const settings = await loadSettings(settingsFile);
    // Read now, so a setting it refuses stops the bench before any load.
    await loadSettings(checkedSettingsFile);
    const list = await loadUsersList(usersFile, usersListOptions(settings));

    const imap = await startImap({ settings, list });
    stops.push(() => imap.stop());
    const webmail = await startWebmail({ settings, list });
    stops.push(() => webmail.stop());

    const services: Service[] = [
      { name: "slapd", daemon: false, pid: async () => slapd.pid },
      { name: "named", daemon: false, pid: () => pidFile(join(dir, "named", "named.pid")) },
      { name: "dovecot", daemon: false, pid: async () => imap.pid },
      { name: "webmail (php)", daemon: false, pid: async () => webmail.pid },
    ];
    return {
      dir,
      settingsFile,
      checkedSettingsFile,
      settings,
      users,
      mailRoot,
      spool,
      sink,
      imap,
      webmail,
      services,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
