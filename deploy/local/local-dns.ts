// Local mode's DNS: named serves the managed zone beside zone files a tester keeps in
// <dataDir>/zones/NAME.zone, which stand in for the Internet's DNS. A domain claimed on
// the form gets such a file (never overwritten) with its TXT proof and MX lines written
// as comments: the tester, playing the domain's owner, uncomments them to prove the claim.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MailboxEntry } from "../../config/users-list.ts";
import { proofRecordName, proofRecordValue } from "../../config/proof-record.ts";
import { zoneNameProblem, type RunningNamed, type Zone } from "./named.ts";

/** The zones in `dir` (NAME.zone each), sorted by name. */
export async function readZoneFiles(dir: string): Promise<Zone[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const zones: Zone[] = [];
  for (const file of names.filter((n) => n.endsWith(".zone")).sort()) {
    zones.push({ name: file.slice(0, -".zone".length), text: await readFile(join(dir, file), "utf8") });
  }
  return zones;
}

/** A new zone file for a claimed domain: SOA and NS only, with what the owner would add as comments. */
export function claimZoneText(claim: Pick<MailboxEntry, "domain" | "pendingProof">, mxHost: string): string {
  return [
    `; ${claim.domain} as the Internet would see it, in SEMail's local mode.`,
    "; Prove the claim made on the web form: uncomment the TXT line, then press Check now.",
    "; Uncomment the MX line too, for mail to this domain to reach the inbound daemon.",
    "$TTL 60",
    `@ IN SOA ns.${claim.domain}. hostmaster.${claim.domain}. 1 60 60 600 60`,
    `@ IN NS ns.${claim.domain}.`,
    "ns IN A 127.0.0.1",
    `; ${proofRecordName(claim.domain)}. IN TXT "${proofRecordValue(claim.pendingProof!)}"`,
    `; @ IN MX 10 ${mxHost}.`,
    "",
  ].join("\n");
}

/** Writes a zone file for each claimed domain that has none; answers how many it wrote. */
export async function writeClaimZones(
  dir: string,
  claims: ReadonlyArray<Pick<MailboxEntry, "domain" | "pendingProof">>,
  mxHost: string,
): Promise<number> {
  let written = 0;
  for (const claim of claims) {
    if (zoneNameProblem(claim.domain) !== undefined) continue;
    try {
      await writeFile(join(dir, `${claim.domain}.zone`), claimZoneText(claim, mxHost), { flag: "wx" });
      written++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  return written;
}

export interface LocalDns {
  /** Serves `managed` (when given) and whatever the zone files now say; reloads named only on a change. */
  publish(managed?: Zone): Promise<void>;
}

/** Reloads go one at a time: named's reload rewrites its configuration. */
export function createLocalDns(
  named: RunningNamed,
  zonesDir: string,
  managed: Zone,
  served: readonly Zone[],
): LocalDns {
  let current = managed;
  let last = JSON.stringify(served);
  let tail: Promise<unknown> = Promise.resolve();
  return {
    publish(next) {
      const run = tail.then(async () => {
        if (next) current = next;
        const files = (await readZoneFiles(zonesDir)).filter((z) => z.name !== current.name);
        const zones = [...files, current];
        const text = JSON.stringify(zones);
        if (text === last) return;
        await named.reload(zones);
        last = text;
      });
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

/**
 * Local mode's lookup of a claim's proof: the claimed domain's stand-in zone is written
 * (when it has none) and served before the look. The first check runs as the claim is
 * made, before the apply writes that zone; named would refuse to answer for a zone it does
 * not serve (EREFUSED), where the Internet's DNS would say the record is not there yet. A
 * tester's edit of a zone file counts from the next check, as a real DNS change would.
 */
export function servingClaimZoneFirst<T>(
  dns: LocalDns,
  claims: { readonly dir: string; readonly mxHost: string },
  lookup: (domain: string, token: string) => Promise<T>,
  onError: (err: Error) => void,
): (domain: string, token: string) => Promise<T> {
  return async (domain, token) => {
    try {
      await writeClaimZones(claims.dir, [{ domain, pendingProof: token }], claims.mxHost);
      await dns.publish();
    } catch (err) {
      onError(err as Error);
    }
    return lookup(domain, token);
  };
}
