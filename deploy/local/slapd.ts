// A private slapd on loopback for local mode (`semail start`) and for tests: its own config,
// an mdb database under dataDir seeded with slapadd, and a stop() that waits for the exit.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { access, constants, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Client } from "ldapts";
import type { Logger } from "pino";
import { silentLogger } from "../../lib/logger.ts";
import { directoryLayout } from "../../config/sections/ldap.ts";
import { ownerProblem } from "../../config/users-list.ts";
import { startForeground, type ForegroundChild } from "../../lib/foreground-child.ts";
import { freeLoopbackPort } from "./ports.ts";

export interface SlapdUser {
  readonly uid: string;
  readonly password: string;
  readonly cn?: string;
  readonly mail?: string;
}

/** A mailing list seeded as directory/groups.ts reads one: groupOfNames + extensibleObject for `mail`. */
export interface SlapdList {
  readonly cn: string;
  readonly mail: string;
  /** uids under ou=people. */
  readonly members: readonly string[];
  readonly owners: readonly string[];
}

export interface SlapdOptions {
  /** Holds slapd.conf, the database (db/) and the pid file; reused when it already holds a database. */
  readonly dataDir: string;
  readonly baseDn?: string;
  /** Loopback port; 0 or unset picks a free one. */
  readonly port?: number;
  /** Seeded only when the database is created; a second start keeps what is there. */
  readonly users: readonly SlapdUser[];
  /** uids put in the admin group (groupOfNames cn=admins,ou=groups). */
  readonly admins: readonly string[];
  /** Mailing lists in ou=groups, seeded with the users. */
  readonly lists?: readonly SlapdList[];
  /** Password of the directory manager (rootdn cn=admin,BASE). */
  readonly adminPassword: string;
  readonly logger?: Logger;
  /** PEM certificate and key: also serve ldaps:// on a second free port and offer StartTLS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

export interface RunningSlapd {
  readonly url: string;
  /** Set when started with `tls`. */
  readonly ldapsUrl?: string;
  readonly baseDn: string;
  readonly adminDn: string;
  readonly userDnTemplate: string;
  readonly adminGroupDn: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const SLAPD = "/usr/sbin/slapd";
const SLAPADD = "/usr/sbin/slapadd";
const SCHEMA_DIR = "/etc/ldap/schema";
const MODULE_DIR = "/usr/lib/ldap";
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** `{SSHA}` hash as slappasswd makes it: base64(sha1(password + salt) + salt). */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha1").update(password, "utf8").update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString("base64")}`;
}

/** One LDIF line; anything not a plain SAFE-STRING (RFC 2849) is base64, so values cannot add lines or attributes. */
function ldifLine(attribute: string, value: string): string {
  const safe =
    /^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(value) &&
    !value.endsWith(" ");
  return safe ? `${attribute}: ${value}` : `${attribute}:: ${Buffer.from(value, "utf8").toString("base64")}`;
}

function ldifEntry(dn: string, attributes: ReadonlyArray<readonly [string, string]>): string {
  return `${[ldifLine("dn", dn), ...attributes.map(([a, v]) => ldifLine(a, v))].join("\n")}\n`;
}

/** The base entry for a DN whose first RDN is dc= or o=. */
function baseEntry(baseDn: string): string {
  const match = /^(dc|o)=([^,+\\]+)(,|$)/i.exec(baseDn);
  if (match === null)
    throw new Error(`slapd baseDn ${JSON.stringify(baseDn)} must start with dc= or o= (e.g. dc=semail,dc=test)`);
  const [, attr, value] = match as unknown as [string, string, string];
  if (attr.toLowerCase() === "dc") {
    return ldifEntry(baseDn, [
      ["objectClass", "top"],
      ["objectClass", "dcObject"],
      ["objectClass", "organization"],
      ["dc", value],
      ["o", "SEMail"],
    ]);
  }
  return ldifEntry(baseDn, [
    ["objectClass", "top"],
    ["objectClass", "organization"],
    ["o", value],
  ]);
}

/** The seed: base, ou=people, ou=groups, the users, the admin group and the lists. */
export function seedLdif(
  baseDn: string,
  adminDn: string,
  users: readonly SlapdUser[],
  admins: readonly string[],
  lists: readonly SlapdList[] = [],
): string {
  const { people, groups } = directoryLayout(baseDn);
  const entries = [
    baseEntry(baseDn),
    ldifEntry(people, [
      ["objectClass", "organizationalUnit"],
      ["ou", "people"],
    ]),
    ldifEntry(groups, [
      ["objectClass", "organizationalUnit"],
      ["ou", "groups"],
    ]),
  ];
  for (const user of users) {
    const cn = user.cn ?? user.uid;
    entries.push(
      ldifEntry(`uid=${user.uid},${people}`, [
        ["objectClass", "inetOrgPerson"],
        ["uid", user.uid],
        ["cn", cn],
        ["sn", cn.split(" ").at(-1) || user.uid],
        ...(user.mail !== undefined ? [["mail", user.mail] as const] : []),
        ["userPassword", sshaHash(user.password)],
      ]),
    );
  }
  // groupOfNames needs at least one member: the directory manager stands in when there is no admin.
  const members = admins.length > 0 ? admins.map((uid) => `uid=${uid},${people}`) : [adminDn];
  entries.push(
    ldifEntry(`cn=admins,${groups}`, [
      ["objectClass", "groupOfNames"],
      ["cn", "admins"],
      ...members.map((m) => ["member", m] as const),
    ]),
  );
  for (const list of lists)
    entries.push(
      ldifEntry(`cn=${list.cn},${groups}`, [
        ["objectClass", "groupOfNames"],
        ["objectClass", "extensibleObject"],
        ["cn", list.cn],
        ["mail", list.mail],
        ...list.members.map((uid) => ["member", `uid=${uid},${people}`] as const),
        ...list.owners.map((uid) => ["owner", `uid=${uid},${people}`] as const),
      ]),
    );
  return entries.join("\n");
}

function slapdConf(
  dataDir: string,
  baseDn: string,
  adminDn: string,
  adminPassword: string,
  tls: SlapdOptions["tls"],
): string {
  const quote = (s: string): string => `"${s.replace(/["\\]/g, "\\$&")}"`;
  return [
    "# Written by SEMail (deploy/local/slapd.ts); rewritten at each start.",
    ...["core", "cosine", "inetorgperson", "nis"].map((s) => `include ${join(SCHEMA_DIR, `${s}.schema`)}`),
    ...(tls
      ? [`TLSCertificateFile ${quote(resolve(tls.certFile))}`, `TLSCertificateKeyFile ${quote(resolve(tls.keyFile))}`]
      : []),
    `pidfile ${quote(join(dataDir, "slapd.pid"))}`,
    `argsfile ${quote(join(dataDir, "slapd.args"))}`,
    `modulepath ${MODULE_DIR}`,
    "moduleload back_mdb",
    "database mdb",
    "maxsize 104857600",
    `suffix ${quote(baseDn)}`,
    `rootdn ${quote(adminDn)}`,
    `rootpw ${sshaHash(adminPassword)}`,
    `directory ${quote(join(dataDir, "db"))}`,
    "index objectClass eq",
    "index uid,member,uniqueMember,memberUid eq",
    // Password hashes are for binding only; everything else is readable (logins and group checks search anonymously).
    "access to attrs=userPassword by self write by anonymous auth by * none",
    "access to * by * read",
    "",
  ].join("\n");
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

/** The pid of a slapd still running on this dataDir (left by a run that was killed), if any. */
async function runningSlapdFor(dataDir: string, confFile: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(join(dataDir, "slapd.pid"), "utf8").catch(() => ""), 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.split("\0").includes(confFile) ? pid : undefined;
}

/** Runs a program to completion, feeding `input`; rejects with its stderr on failure. */
function run(program: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(program, args, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
    child.once("error", fail);
    child.once("close", (code) =>
      code === 0 ? ok() : fail(new Error(`${program} ${args.join(" ")} exited with ${code}: ${stderr.trim()}`)),
    );
    child.stdin.end(input);
  });
}

async function waitUntilAnswering(
  url: string,
  adminDn: string,
  adminPassword: string,
  baseDn: string,
  child: ChildProcess,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`slapd exited (${child.exitCode ?? child.signalCode}) while starting: ${stderr().trim()}`);
    }
    const client = new Client({ url, connectTimeout: 1000, timeout: 1000 });
    try {
      await client.bind(adminDn, adminPassword);
      await client.search(baseDn, { scope: "base", attributes: ["1.1"] });
      return;
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await client.unbind().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`slapd did not answer on ${url} within ${START_TIMEOUT_MS} ms (${lastError}): ${stderr().trim()}`);
}

export async function startSlapd(options: SlapdOptions): Promise<RunningSlapd> {
  const logger = options.logger ?? silentLogger();
  const baseDn = options.baseDn ?? "dc=semail,dc=test";
  const adminDn = `cn=admin,${baseDn}`;
  const dataDir = resolve(options.dataDir);
  for (const program of [SLAPD, SLAPADD]) {
    if (!(await exists(program, constants.X_OK))) {
      throw new Error(`${program} not found: install OpenLDAP with "apt-get install slapd ldap-utils"`);
    }
  }
  if (options.adminPassword.length === 0) throw new Error("slapd adminPassword must not be empty");
  for (const uid of [...options.users.map((u) => u.uid), ...options.admins]) {
    const problem = ownerProblem(uid);
    if (problem !== undefined) throw new Error(`slapd seed user: ${problem}`);
  }
  for (const user of options.users) {
    if (user.password.length === 0) throw new Error(`slapd seed user ${user.uid}: empty password`);
  }

  await mkdir(join(dataDir, "db"), { recursive: true, mode: 0o700 });
  const confFile = join(dataDir, "slapd.conf");
  const leftover = await runningSlapdFor(dataDir, confFile);
  if (leftover !== undefined) {
    throw new Error(
      `slapd (pid ${leftover}) from an earlier run still uses ${dataDir}; stop it first (kill ${leftover})`,
    );
  }
  await writeFile(confFile, slapdConf(dataDir, baseDn, adminDn, options.adminPassword, options.tls), { mode: 0o600 });

  // "seeded" is written after slapadd succeeds: a database without it is a half-done seed, redone from scratch.
  const seededMarker = join(dataDir, "db", "seeded");
  if (await exists(seededMarker)) {
    logger.info({ dataDir }, "slapd: reusing the existing directory database");
  } else {
    await rm(join(dataDir, "db"), { recursive: true, force: true });
    await mkdir(join(dataDir, "db"), { recursive: true, mode: 0o700 });
    await run(SLAPADD, ["-q", "-f", confFile], seedLdif(baseDn, adminDn, options.users, options.admins, options.lists));
    await writeFile(seededMarker, `${new Date().toISOString()}\n`);
    logger.info({ dataDir, users: options.users.length }, "slapd: created and seeded the directory database");
  }

  // A port picked here can be taken by someone else before slapd binds it: then pick again (bounded).
  const attempts = options.port ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    const port = options.port || (await freeLoopbackPort());
    const url = `ldap://127.0.0.1:${port}`;
    const ldapsUrl = options.tls ? `ldaps://127.0.0.1:${await freeLoopbackPort()}` : undefined;
    const slapd = await launch(confFile, [url, ...(ldapsUrl ? [ldapsUrl] : [])], logger);
    try {
      await waitUntilAnswering(url, adminDn, options.adminPassword, baseDn, slapd.child, slapd.output);
    } catch (err) {
      await slapd.stop();
      if (attempt < attempts && slapd.child.exitCode !== null) continue;
      throw err;
    }
    logger.info({ url, pid: slapd.child.pid }, "slapd: listening");
    return {
      url,
      ...(ldapsUrl !== undefined && { ldapsUrl }),
      baseDn,
      adminDn,
      userDnTemplate: directoryLayout(baseDn).userDnTemplate,
      adminGroupDn: directoryLayout(baseDn).adminGroupDn,
      pid: slapd.child.pid!,
      stop: slapd.stop,
    };
  }
}

/** slapd in the foreground on `urls`; no -u/-g: it runs as whoever runs us and owns dataDir. */
function launch(confFile: string, urls: readonly string[], logger: Logger): Promise<ForegroundChild> {
  return startForeground(SLAPD, ["-d", "0", "-h", urls.map((u) => `${u}/`).join(" "), "-f", confFile], {
    name: "slapd",
    logger,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
}
