// Local mode's Dovecot in bench/scale (services/imap/dovecot.ts): a real Dovecot on a
// users list of n mailboxes, then reload() with one added mailbox at a time. Two times per
// reload: until the users file is renamed into place (reload's own work: the users' index
// and control directories, the file rendered and written), and until reload() resolves
// (Dovecot's userdb answers for the new user: Dovecot re-reads the file at most once a
// second, so that part waits up to a second whatever the size). Needs root and Dovecot.
import { watch } from "node:fs";
import { access, chmod, mkdtemp, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseSettings } from "../../config/settings.ts";
import { parseUsersList, type UsersList } from "../../config/users-list.ts";
import { imapPaths } from "../../services/imap/config.ts";
import { startImap } from "../../services/imap/dovecot.ts";
import { freeLoopbackPort } from "../../deploy/local/ports.ts";
import { selfSignedCertificate } from "../../testkit/tls.ts";
import { BENCH_DOMAIN, BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

export interface ImapReloadSample {
  /** Milliseconds from reload() to the users file's rename, one per added mailbox. */
  readonly writtenMs: readonly number[];
  /** Milliseconds until reload() resolved (Dovecot knows the added user). */
  readonly seenMs: readonly number[];
}

/** Why the IMAP part cannot run here, or undefined when it can. */
export async function imapUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root (Dovecot runs each session as the mailbox's uid)";
  return access("/usr/sbin/dovecot").then(
    () => undefined,
    () => "Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d dovecot-ldap)",
  );
}

const list = (count: number): UsersList => parseUsersList(syntheticUsersYaml(count), BENCH_LIST_OPTIONS);

/** Resolves with the time of the next rename of `path` (a temp file renamed over it). */
function renamed(path: string): { at: Promise<number>; close(): void } {
  let done: (t: number) => void = () => undefined;
  const at = new Promise<number>((resolve) => (done = resolve));
  const watcher = watch(dirname(path), (event, name) => {
    if (event === "rename" && name === basename(path)) done(performance.now());
  });
  return { at, close: () => watcher.close() };
}

export async function measureImapReloads(count: number, adds: number): Promise<ImapReloadSample> {
  // Its own directory, open to the mail uids (Dovecot's sessions run as them).
  const dir = await mkdtemp("/tmp/semail-bench-imap-");
  const cert = await selfSignedCertificate("localhost");
  try {
    await chmod(dir, 0o755);
    const settings = parseSettings(
      {
        managedDomain: BENCH_DOMAIN,
        // Never contacted: nobody logs in during the bench.
        ldap: { url: "ldap://127.0.0.1:9" },
        tls: { cert: cert.certFile, key: cert.keyFile },
        inbound: { mailRoot: join(dir, "mail") },
        imap: {
          listen: ["127.0.0.1"],
          imapPort: await freeLoopbackPort(),
          imapsPort: await freeLoopbackPort(),
          pop3sPort: await freeLoopbackPort(),
          stateDir: join(dir, "imap"),
        },
      },
      "bench/scale imap",
    );
    const imap = await startImap({ settings, list: list(count) });
    try {
      const usersFile = imapPaths(settings.imap.stateDir).users;
      const writtenMs: number[] = [];
      const seenMs: number[] = [];
      for (let i = 1; i <= adds; i++) {
        const next = list(count + i);
        const watcher = renamed(usersFile);
        const started = performance.now();
        await imap.reload(next);
        seenMs.push(performance.now() - started);
        writtenMs.push((await watcher.at) - started);
        watcher.close();
      }
      return { writtenMs, seenMs };
    } finally {
      await imap.stop();
    }
  } finally {
    await cert.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
