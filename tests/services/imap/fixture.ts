// Real parts for the IMAP tests: slapd with alice, bob and admin, the inbound daemon on a
// temp mail root whose mailbox roots belong to their mail uids (as mailbox-fs.sh --uid
// leaves them), and Dovecot from services/imap on free loopback ports. Python's
// imaplib and poplib are the clients.
import { execFile } from "node:child_process";
import { chmod, chown, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import { pino } from "pino";
import { mailUid } from "../../../config/mail-uid.ts";
import { imapSettings } from "../../../config/sections/imap.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { usersListOptions } from "../../../config/settings.ts";
import { startImap, type RunningImap } from "../../../services/imap/dovecot.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { startTestSlapd, TEST_USERS, type TestSlapd } from "../../helpers/slapd.ts";
import { selfSignedCertificate, type TestCertificate } from "../../../testkit/tls.ts";
import { startFixture, usersYaml, type InboundFixture, type UserEntry } from "../../mailservers/inbound/fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const run = promisify(execFile);

/** alice and bob have mailboxes; admin is in LDAP only; carol is in LDAP and her mailbox is pending. */
export const CAROL = { uid: "carol", password: "carol-Secret4" } as const;
export const IMAP_USERS: readonly UserEntry[] = [
  { owner: "alice", address: "alice@alice.semail.test" },
  { owner: "bob", address: "bob@bob.semail.test" },
];
export const PENDING_YAML = `  - owner: carol\n    address: carol@carol.example\n    pendingProof: 0123456789abcdef0123\n`;

export interface ImapFixture {
  readonly slapd: TestSlapd;
  readonly inbound: InboundFixture;
  readonly imap: RunningImap;
  readonly stateDir: string;
  readonly cert: TestCertificate;
  /** Dovecot's log lines so far. */
  log(): string;
}

/** The mailbox roots as production leaves them: owned by mailUid(owner), reachable by it. */
export async function handToMailUids(mailRoot: string, owners: readonly string[]): Promise<void> {
  for (let dir = mailRoot; dir !== path.dirname(dir) && dir.startsWith(tmpdir() + path.sep); dir = path.dirname(dir))
    await chmod(dir, 0o755);
  for (const owner of owners)
    await run("chown", ["-R", `${mailUid(owner)}:${mailUid(owner)}`, path.join(mailRoot, owner)]);
}

export async function startImapFixture(
  t: TestContext,
  options: { trustedNetworks?: string[]; listen?: string[] } = {},
): Promise<ImapFixture> {
  const cert = await selfSignedCertificate("localhost");
  t.after(() => cert.cleanup());
  const slapd = await startTestSlapd({ users: [...TEST_USERS, CAROL] });
  t.after(() => slapd.stop());
  const inbound = await startFixture(t, { users: IMAP_USERS });
  await writeFile(inbound.usersFile, usersYaml(IMAP_USERS) + PENDING_YAML);
  await inbound.daemon.reload();
  await handToMailUids(
    inbound.mailRoot,
    IMAP_USERS.map((u) => u.owner),
  );
  const stateDir = await tempDir(t, "semail-imap-");
  await chmod(stateDir, 0o755);
  await chown(stateDir, 0, 0);
  const imap = imapSettings.parse({
    listen: options.listen ?? ["127.0.0.1"],
    imapPort: await freeLoopbackPort(),
    imapsPort: await freeLoopbackPort(),
    pop3sPort: await freeLoopbackPort(),
    trustedNetworks: options.trustedNetworks ?? [],
    stateDir,
  });
  const settings = {
    imap,
    ldap: slapd.settings(),
    tls: { cert: cert.certFile, key: cert.keyFile },
    inbound: inbound.settings.inbound,
  };
  const list = parseUsersList(usersYaml(IMAP_USERS) + PENDING_YAML, usersListOptions(inbound.settings));
  let log = "";
  const logger = pino(
    { level: "debug" },
    {
      write: (line: string) =>
        void (log += `${(JSON.parse(line) as { dovecot?: string; msg: string }).dovecot ?? JSON.parse(line).msg}\n`),
    },
  );
  const running = await startImap({ settings, list, logger });
  t.after(() => running.stop());
  return { slapd, inbound, imap: running, stateDir, cert, log: () => log };
}

let sourceBlock = 0;

/** Runs a Python snippet with imaplib/poplib at hand; `HOST`, `PORT` (IMAPS), `STARTTLS` (143), `POP3S` defined. Resolves with its JSON output. */
export async function python<T>(fixture: ImapFixture, code: string, env: Record<string, string> = {}): Promise<T> {
  const script = `
import imaplib, poplib, ssl, json, os, sys, random, re
HOST = os.environ["HOST"]; PORT = int(os.environ["PORT"]); STARTTLS = int(os.environ["STARTTLS"]); POP3S = int(os.environ["POP3S"])
CTX = ssl.create_default_context(); CTX.check_hostname = False; CTX.verify_mode = ssl.CERT_NONE
def login(user, password, port=None):
    m = imaplib.IMAP4_SSL(HOST, port or PORT, ssl_context=CTX, timeout=30)
    m.login(user, password)
    return m
class FromAddress(imaplib.IMAP4_SSL):
    """IMAPS from another loopback address: Dovecot delays a client address's logins after failures."""
    def __init__(self, source, *args, **kwargs):
        self.source = source
        super().__init__(*args, **kwargs)
    def _create_socket(self, timeout):
        import socket
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
class PlainFrom(imaplib.IMAP4):
    """IMAP on the STARTTLS port from a chosen loopback address."""
    def __init__(self, source, *args, **kwargs):
        self.source = source
        super().__init__(*args, **kwargs)
    def _create_socket(self, timeout):
        import socket
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
# A fresh address per refused login: Dovecot delays an address's logins after it failed.
SOURCES = ("127.1.%d.%d" % (n // 250, n % 250 + 1) for n in range(int(os.environ["SOURCE_BASE"]), int(os.environ["SOURCE_BASE"]) + 64))
def parallel(calls):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(len(calls)) as pool:
        return dict(zip(calls.keys(), pool.map(lambda c: c(), calls.values())))
def refused(user, password):
    try:
        m = FromAddress(next(SOURCES), HOST, PORT, ssl_context=CTX, timeout=30)
    except Exception as e:
        return "connect: " + str(e)
    try:
        m.login(user, password)
        m.logout()
        return None
    except imaplib.IMAP4.error as e:
        return str(e)
${code}
`;
  const { stdout } = await run("python3", ["-c", script], {
    env: {
      ...process.env,
      HOST: fixture.imap.host,
      PORT: String(fixture.imap.ports.imaps),
      STARTTLS: String(fixture.imap.ports.imap),
      POP3S: String(fixture.imap.ports.pop3s),
      SOURCE_BASE: String(64 * sourceBlock++),
      ...env,
    },
    timeout: 300_000,
    maxBuffer: 64 << 20,
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(
      `python failed: ${err.stderr || err.message}\n--- dovecot log ---\n${fixture.log().split("\n").slice(-30).join("\n")}`,
    );
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}
