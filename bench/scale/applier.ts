// The local applier's side of bench/scale: local mode's "stack update" (deploy/local/
// applier.ts) on a list of n mailboxes, then one added mailbox at a time. What runs is
// what `semail start --no-images --no-containers` runs: plain mailbox directories (chowned
// to each mail uid as root), the managed zone rendered and served by a real named
// (local-dns.ts), and, standing in for the daemons' notification, Dovecot's users file
// rendered and written (config/imap-users.ts, as imap.reload does before it asks Dovecot).
// Not run: image files on loop mounts, users' containers, the daemons' and Dovecot's own
// reloads (the daemons are timed on their own).
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imapUsers, renderUsersFile } from "../../config/imap-users.ts";
import { parseUsersList, type UsersList } from "../../config/users-list.ts";
import { silentLogger } from "../../lib/logger.ts";
import { createLocalApplier, createLocalZone } from "../../deploy/local/applier.ts";
import { createLocalDns } from "../../deploy/local/local-dns.ts";
import { startNamed } from "../../deploy/local/named.ts";
import { BENCH_DOMAIN, BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

export interface ApplySample {
  /** The first apply, from nothing to n mailboxes (local mode's start). */
  readonly firstMs: number;
  /** One per added mailbox. */
  readonly addMs: readonly number[];
}

const list = (count: number): UsersList => parseUsersList(syntheticUsersYaml(count), BENCH_LIST_OPTIONS);

export async function measureApplier(dir: string, count: number, adds: number): Promise<ApplySample> {
  const runDir = join(dir, `applier-${count}`);
  const zonesDir = join(runDir, "zones");
  await mkdir(zonesDir, { recursive: true });
  const zone = createLocalZone({
    domain: BENCH_DOMAIN,
    ipv4: "127.0.0.1",
    ipv6: "::1",
    serialFile: join(runDir, "serial"),
  });
  const managed = { name: BENCH_DOMAIN, text: (await zone.render(list(0)))! };
  const named = await startNamed({ dataDir: join(runDir, "named"), zones: [managed] });
  const usersFile = join(runDir, "imap-users");
  const mailRoot = join(runDir, "mail");
  try {
    const dns = createLocalDns(named, zonesDir, managed, [managed]);
    let current = list(0);
    const applier = createLocalApplier({
      mailRoot,
      fstab: join(runDir, "fstab"),
      zone,
      publishZone: (name, text) => dns.publish(text === undefined ? undefined : { name, text }),
      claimZones: { dir: zonesDir, mxHost: `mx.${BENCH_DOMAIN}` },
      notifyDaemons: async () => {
        await writeFile(`${usersFile}.tmp`, renderUsersFile(imapUsers(current, mailRoot)));
        await rename(`${usersFile}.tmp`, usersFile);
      },
    });
    const apply = async (next: UsersList): Promise<number> => {
      current = next;
      const started = performance.now();
      await applier.apply({ list: next, logger: silentLogger(), signal: new AbortController().signal });
      return performance.now() - started;
    };
    const firstMs = await apply(list(count));
    const addMs: number[] = [];
    // Each list is parsed before the clock starts: the parse is timed on its own.
    for (let i = 1; i <= adds; i++) addMs.push(await apply(list(count + i)));
    return { firstMs, addMs };
  } finally {
    await named.stop();
  }
}
