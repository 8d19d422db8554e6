// The embedded configuration of local mode: every part on loopback, data under one
// git-ignored folder. Written once as <dataDir>/semail.yaml; later starts reuse it.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { directoryLayout } from "../../config/sections/ldap.ts";
import { containerName } from "./containers.ts";
import { localInstanceId } from "./docker-engine.ts";
import { freeLoopbackPort } from "./ports.ts";

export const LOCAL_DOMAIN = "semail.test";
export const DEMO_USERS = ["alice", "bob"] as const;
export const DEMO_ADMIN = "admin";

/** Loopback ports of the parts; `--free-ports` picks others. */
export interface LocalPorts {
  readonly ldap: number;
  readonly dns: number;
  /** The inbound daemon as an MX (25's role): no AUTH. */
  readonly inbound: number;
  /** The outbound daemon's submission (AUTH with the LDAP login; plain on loopback). */
  readonly submission: number;
  /** The inbound daemon's submission for mail programs: 587's role (STARTTLS) and 465's (implicit TLS). */
  readonly inboundSubmission: number;
  readonly inboundSubmissions: number;
  readonly web: number;
  /** Dovecot's IMAP (STARTTLS), IMAPS and POP3S; run only as root. */
  readonly imap: number;
  readonly imaps: number;
  readonly pop3s: number;
  /** Roundcube on php -S (root only, as it reads through Dovecot). */
  readonly webmail: number;
}

export const DEFAULT_PORTS: LocalPorts = {
  ldap: 3389,
  dns: 5300,
  inbound: 2525,
  submission: 2587,
  inboundSubmission: 1587,
  inboundSubmissions: 1465,
  web: 8080,
  imap: 1143,
  imaps: 1993,
  pop3s: 1995,
  webmail: 8081,
};

/** A free loopback port for every part (`--free-ports`, and the tests' own local modes). */
export async function freeLocalPorts(): Promise<LocalPorts> {
  const ports: Record<string, number> = {};
  for (const part of Object.keys(DEFAULT_PORTS)) ports[part] = await freeLoopbackPort();
  return ports as unknown as LocalPorts;
}

export interface LocalSecrets {
  /** Demo logins and their passwords, made on the first start. */
  readonly passwords: Readonly<Record<string, string>>;
  /** slapd's rootdn password. */
  readonly ldapAdminPassword: string;
}

const password = () => randomBytes(9).toString("base64url");

/** The demo passwords, made once and kept (mode 0600) so a second start logs in the same. */
export async function localSecrets(dataDir: string): Promise<LocalSecrets> {
  const file = join(dataDir, "demo-users.json");
  try {
    return JSON.parse(await readFile(file, "utf8")) as LocalSecrets;
  } catch {
    const secrets: LocalSecrets = {
      passwords: Object.fromEntries([...DEMO_USERS, DEMO_ADMIN].map((uid) => [uid, password()])),
      ldapAdminPassword: password(),
    };
    await writeFileAtomic(file, `${JSON.stringify(secrets, null, 2)}\n`);
    return secrets;
  }
}

/**
 * The settings file of local mode (see config/settings.ts), as YAML. What Dovecot's sessions
 * and PHP must reach (mail, IMAP and webmail state) goes under `reachable`, which is the
 * data dir unless a directory above it is closed to other users (reachable-dir.ts).
 */
export function localSettingsYaml(dataDir: string, ports: LocalPorts, ldapBaseDn: string, reachable = dataDir): string {
  const loopback = (port: number, suffix = "") => [`127.0.0.1:${port}${suffix}`, `[::1]:${port}${suffix}`];
  const inboundListen = loopback(ports.inbound);
  const submissionListen = [...loopback(ports.inboundSubmission), ...loopback(ports.inboundSubmissions, "/tls")];
  const settings = {
    hostname: `mx.${LOCAL_DOMAIN}`,
    managedDomain: LOCAL_DOMAIN,
    users: join(dataDir, "users.yaml"),
    // Small image files: local mode is for trying SEMail, not for storing years of mail.
    defaultMailboxSize: "64MiB",
    minMailboxSize: "32MiB",
    log: { level: "info" },
    ldap: {
      url: `ldap://127.0.0.1:${ports.ldap}`,
      baseDn: ldapBaseDn,
      userDnTemplate: directoryLayout(ldapBaseDn).userDnTemplate,
      adminGroupDn: directoryLayout(ldapBaseDn).adminGroupDn,
    },
    inbound: {
      listen: [...inboundListen, ...submissionListen],
      mailRoot: join(reachable, "mail"),
      minFreeSpace: "1MiB",
      // Mail programs' submission, as on 587 and 465: AUTH after TLS (the certificate local
      // mode makes, tls.ts), each message handed to outbound's submission.
      submission: { listen: submissionListen, outbound: `127.0.0.1:${ports.submission}` },
      // The directory's groups with a mail are mailing lists (a demo one, team@, is seeded).
      lists: { enabled: true },
    },
    outbound: {
      listen: [`127.0.0.1:${ports.submission}`],
      spool: join(dataDir, "spool"),
      // Forwards and lists' copies for members elsewhere: made on the first start (local-settings.ts).
      forwardSecretFile: join(dataDir, "forward.secret"),
      // Quick retries so a demo sees a deferred message go out once its server recovers.
      retry: { delays: ["30s", "1m", "5m"], maxAge: "1d", delayNotice: "0" },
      delivery: {
        resolver: `127.0.0.1:${ports.dns}`,
        // Every MX of the local zone is this machine's inbound daemon.
        smtpPort: ports.inbound,
        // Loopback is where the inbound daemon lives here, so it is no mail loop.
        localAddresses: [],
        localNames: [],
        connectTimeout: "5s",
        greetingTimeout: "30s",
        commandTimeout: "60s",
      },
    },
    imap: {
      listen: ["127.0.0.1"],
      imapPort: ports.imap,
      imapsPort: ports.imaps,
      pop3sPort: ports.pop3s,
      stateDir: join(reachable, "imap"),
    },
    // Plain HTTP on loopback: its cookies are not Secure (behindTls false).
    webmail: { listen: `127.0.0.1:${ports.webmail}`, stateDir: join(reachable, "webmail") },
    web: {
      listen: `127.0.0.1:${ports.web}`,
      webmailUrl: `http://127.0.0.1:${ports.webmail}/`,
      // Plain HTTP on loopback only (cli/web.ts refuses this anywhere else).
      secureCookies: false,
      dnsServers: [`127.0.0.1:${ports.dns}`],
      apply: { mode: "local" },
    },
    // `semail report`: the list local mode applied (start-local-mode.ts writes it) and its
    // containers' names; report.dockerSocket is left to the operator, as the engine is chosen at start.
    report: {
      appliedUsersFile: join(dataDir, "applied-users.yaml"),
      userContainer: containerName(localInstanceId(dataDir), "{owner}"),
    },
  };
  return `# SEMail local mode (semail start). Edit and restart to change; delete to regenerate.\n${stringify(settings)}`;
}
