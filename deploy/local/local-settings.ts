// Local mode's settings: made on the first start in the data dir, then checked before
// anything starts (every port free, every directory reachable by the uids that need it).
import { randomBytes } from "node:crypto";
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, loadSettings, type Settings } from "../../config/settings.ts";
import { writeUsersList } from "../../config/users-file.ts";
import { closedAncestor } from "../../lib/closed-ancestor.ts";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import type { ListenSpec } from "../../lib/listen-spec.ts";
import { submissionListeners } from "../../mailservers/inbound/submission-settings.ts";
import { DEFAULT_PORTS, freeLocalPorts, localSettingsYaml, type LocalPorts } from "./defaults.ts";
import { canBind } from "./ports.ts";
import { makeReachable, reachableDir, REACHABLE_ROOT } from "./reachable-dir.ts";

const BASE_DN = "dc=semail,dc=test";

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function pickPorts(free: boolean): Promise<LocalPorts> {
  return free ? freeLocalPorts() : DEFAULT_PORTS;
}

/** The port of an ldap:// or dns URL-like setting ("ldap://127.0.0.1:389", "127.0.0.1:5353"). */
export function portOf(url: string): number {
  return Number(/:(\d+)\/?$/.exec(url)?.[1]);
}

/** The inbound daemon's listeners, each with its part's name for the port check and the banner. */
export function inboundParts(settings: Settings): Array<{ listen: ListenSpec; part: string }> {
  const submission = new Set(submissionListeners(settings).map((l) => l.spec));
  return settings.inbound.listen.map((listen) => {
    const part = !submission.has(listen.spec)
      ? "inbound SMTP"
      : listen.implicitTls
        ? "submission over TLS"
        : "submission with STARTTLS";
    return { listen, part };
  });
}

/** Resolves when nothing listens on 127.0.0.1:port, else rejects naming the part and the way out. */
async function checkPortFree(port: number, part: string): Promise<void> {
  if (!(await canBind(port, "127.0.0.1"))) {
    throw new ConfigError(
      `port ${port} (${part}) is in use: stop what listens there, or start with free ports: \`npm start -- --free-ports\``,
    );
  }
}

/**
 * Refuses, before any image is built, a setting other uids cannot reach: Dovecot's sessions
 * run as each mailbox's uid and PHP as www-data.
 */
async function checkReachable(settings: Settings, settingsFile: string): Promise<void> {
  const dirs: Array<[string, string]> = [
    ["inbound.mailRoot", settings.inbound.mailRoot],
    ["imap.stateDir", settings.imap.stateDir],
    ["webmail.stateDir", settings.webmail.stateDir],
  ];
  for (const [setting, dir] of dirs) {
    await makeReachable(dir);
    const closed = await closedAncestor(join(dir, "x"));
    if (closed !== undefined) {
      throw new ConfigError(
        `${setting} ${dir} (${settingsFile}): ${closed} is closed to other users (no o+x), so Dovecot's sessions and PHP cannot reach it: delete ${settingsFile} to have one made that keeps these under ${REACHABLE_ROOT}, or chmod o+x ${closed}`,
      );
    }
  }
}

/** The forward secret both daemons read (outbound.forwardSecretFile), made once, readable by its owner only. */
async function makeForwardSecret(settings: Settings): Promise<void> {
  const file = settings.outbound.forwardSecretFile;
  if (file === undefined || (await exists(file))) return;
  await writeFileAtomic(file, `${randomBytes(32).toString("hex")}\n`, 0o600);
}

/** The settings of local mode (made on the first start), checked, with every port free and a users list. */
export async function prepareDataDir(
  dataDir: string,
  freePorts: boolean,
): Promise<{ settings: Settings; settingsFile: string }> {
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
  if (settings.web.apply.mode !== "local")
    throw new ConfigError(`${settingsFile}: web.apply.mode must be local for semail start`);
  if (asRoot) await checkReachable(settings, settingsFile);
  const parts: Array<[number, string]> = [
    [portOf(settings.ldap.url), "LDAP"],
    [portOf(settings.outbound.delivery.resolver ?? ""), "DNS"],
    ...inboundParts(settings)
      .filter((p) => p.listen.host === "127.0.0.1")
      .map((p): [number, string] => [p.listen.port, p.part]),
    [settings.outbound.listen[0]!.port, "submission"],
    [settings.web.listen.port, "web form"],
    ...(process.getuid?.() === 0
      ? ([
          [settings.imap.imapPort, "IMAP"],
          [settings.imap.imapsPort, "IMAPS"],
          [settings.imap.pop3sPort, "POP3S"],
          [settings.webmail.listen.port, "webmail"],
        ] as Array<[number, string]>)
      : []),
  ];
  for (const [port, part] of parts) await checkPortFree(port, part);
  if (!(await exists(settings.users))) await writeUsersList(settings.users, []);
  await makeForwardSecret(settings);
  return { settings, settingsFile };
}
