// Real parts for the webmail tests: slapd, the inbound daemon and Dovecot (tests/services/imap's
// fixture), a named serving semail.test whose MX for alice's and bob's subdomains is this
// machine, the outbound daemon delivering there through that named, and Roundcube from
// services/webmail under `php -S`, all on loopback.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { imapSettings } from "../../../config/sections/imap.ts";
import { parseSettings, usersListOptions } from "../../../config/settings.ts";
import { loadUsersList } from "../../../config/users-file.ts";
import { startOutbound, type RunningOutbound } from "../../../mailservers/outbound/daemon.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import type { RunningNamed } from "../../../deploy/local/named.ts";
import { startWebmail, type RunningWebmail } from "../../../services/webmail/roundcube.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { startImapFixture, type ImapFixture } from "../imap/fixture.ts";

export interface WebmailFixture {
  readonly mail: ImapFixture;
  readonly named: RunningNamed;
  readonly outbound: RunningOutbound;
  readonly webmail: RunningWebmail;
  readonly stateDir: string;
}

export async function startWebmailFixture(t: TestContext, options: { workers?: number } = {}): Promise<WebmailFixture> {
  const mail = await startImapFixture(t);
  const named = await startTestNamed([
    {
      name: "semail.test",
      text: zoneText("semail.test", ["mx IN A 127.0.0.1", "alice IN MX 10 mx", "bob IN MX 10 mx"]),
    },
  ]);
  t.after(() => named.stop());
  const spool = await mkdtemp(path.join(tmpdir(), "semail-webmail-spool-"));
  const settings = parseSettings(
    {
      hostname: "mx.semail.test",
      managedDomain: "semail.test",
      users: mail.inbound.usersFile,
      log: { level: "silent" },
      ldap: mail.slapd.settings(),
      outbound: {
        listen: ["127.0.0.1:0"],
        spool,
        // Every MX here is the inbound daemon on loopback, which is no mail loop (as local mode).
        delivery: {
          resolver: named.server,
          smtpPort: mail.inbound.port,
          localAddresses: [],
          localNames: [],
          ipFamily: "ipv4",
          connectTimeout: "5s",
        },
      },
    },
    "test",
  );
  const outbound = await startOutbound(settings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
  // node:test runs after hooks first-registered first: each part is stopped before its files go.
  t.after(async () => {
    await outbound.stop();
    await rm(spool, { recursive: true, force: true });
  });

  // Reachable by www-data, which PHP runs as under root.
  const stateDir = await mkdtemp(path.join(tmpdir(), "semail-webmail-"));
  await chmod(stateDir, 0o755);
  const webmailSettings = parseSettings(
    {
      users: mail.inbound.usersFile,
      imap: imapSettings.parse({
        listen: [mail.imap.host],
        imapPort: mail.imap.ports.imap,
        imapsPort: 0,
        pop3sPort: 0,
      }),
      outbound: { listen: [`127.0.0.1:${outbound.addresses[0]!.boundPort}`] },
      webmail: { listen: `127.0.0.1:${await freeLoopbackPort()}`, stateDir, workers: options.workers ?? 2 },
    },
    "test",
  );
  const list = await loadUsersList(mail.inbound.usersFile, usersListOptions(mail.inbound.settings));
  const webmail = await startWebmail({ settings: webmailSettings, list }).catch(async (err: unknown) => {
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  });
  t.after(async () => {
    await webmail.stop();
    await rm(stateDir, { recursive: true, force: true });
  });
  return { mail, named, outbound, webmail, stateDir };
}

/** PSS of each process, in KiB, from /proc/<pid>/smaps_rollup. */
export async function pssKiB(pids: readonly number[]): Promise<number[]> {
  const { readFile } = await import("node:fs/promises");
  const each: number[] = [];
  for (const pid of pids) {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
    each.push(Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0));
  }
  return each;
}

/** "31.2 MiB (server 9.1 + workers 11.0, 11.1)". */
export function describePss(each: readonly number[]): string {
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  const [server = 0, ...workers] = each;
  return `${mib(each.reduce((a, b) => a + b, 0))} MiB (server ${mib(server)}${workers.length ? ` + workers ${workers.map(mib).join(", ")}` : ""})`;
}
