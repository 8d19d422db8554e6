// The policy hosts' certificates (acme.hosts): mta-sts.<domain> of each served domain that the
// main certificate does not carry, in certificates of their own (a subdomain's by DNS-01 in our
// zone, an external domain's by HTTP-01 once its owner points the name here). Each is ordered,
// renewed and fails alone: one domain whose DNS is wrong never holds up another's. Then the two
// files the web front's nginx includes say which names it serves with which certificate: only
// names a certificate in hand carries; any other falls to nginx's default server and the main
// certificate (which does not name it, so a sender's policy fetch for it fails until an order
// succeeds: the status says which). Written under `<stateDir>/hosts/`, with hosts/status.json.
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { HOST_CERTIFICATES, type HostCertificate } from "../../config/sections/acme.ts";
import { systemClock } from "../../lib/clock.ts";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { describe, issue, readInstalled, renewalTime, type CertificateStatus, type RenewOptions } from "./manager.ts";

/** What the last run found and did for one host certificate. */
export interface HostCertificateStatus {
  readonly id: string;
  readonly outcome: CertificateStatus["outcome"];
  /** The names asked for. */
  readonly names: readonly string[];
  /** The names the web front serves with this certificate now; the rest get the main one. */
  readonly served: readonly string[];
  readonly certificate?: CertificateStatus["certificate"];
  readonly checkedAt: string;
  /** Why the last order failed (retried at the next run). */
  readonly error?: string;
}

export interface HostCertificatesStatus {
  readonly checkedAt: string;
  /** The web front's files changed in this run: it must reload. */
  readonly changed: boolean;
  readonly hosts: readonly HostCertificateStatus[];
}

/** The folder of the host certificates under a state directory. */
function hostsDir(stateDir: string): string {
  return join(stateDir, HOST_CERTIFICATES.folder);
}

/** hosts/status.json of `stateDir`, or undefined before the first run. */
export async function readHostCertificatesStatus(stateDir: string): Promise<HostCertificatesStatus | undefined> {
  try {
    return JSON.parse(await readFile(join(hostsDir(stateDir), "status.json"), "utf8")) as HostCertificatesStatus;
  } catch {
    return undefined;
  }
}

/**
 * nginx's two includes: `server_name` for the SNI server block, and name -> certificate folder
 * (as `webDir`, the hosts folder where nginx sees it). A name is served once, by the first
 * certificate carrying it: a map with a key twice would stop nginx from loading.
 */
function webFrontFiles(
  served: ReadonlyArray<{ readonly id: string; readonly names: readonly string[] }>,
  webDir: string,
): { names: string; map: string } {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const host of served)
    for (const name of host.names)
      if (!seen.has(name)) {
        seen.add(name);
        lines.push(`${name} ${webDir}/${host.id};`);
      }
  const head = "# Written by semail cert (services/acme/host-certificates.ts).";
  return {
    names: `${head}\n${seen.size > 0 ? `server_name ${[...seen].join(" ")};\n` : ""}`,
    map: `${head}\n${lines.map((l) => `${l}\n`).join("")}`,
  };
}

async function readText(file: string): Promise<string | undefined> {
  return readFile(file, "utf8").catch(() => undefined);
}

/** Orders what is due, installs it, rewrites the web front's files, reloads when they changed. */
export async function renewHostCertificates(
  options: Omit<RenewOptions, "settings"> & { readonly settings: Pick<RenewOptions["settings"], "acme"> },
): Promise<HostCertificatesStatus> {
  const { logger } = options;
  const a = options.settings.acme;
  const clock = options.clock ?? systemClock;
  const now = new Date(clock.now());
  const dir = hostsDir(a.stateDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });

  const statuses: HostCertificateStatus[] = [];
  let issuedAny = false;
  for (const host of a.hosts) {
    const folder = join(dir, host.id);
    const certFile = join(folder, "fullchain.pem");
    const installed = await readInstalled(certFile);
    const covers = installed !== undefined && host.names.every((n) => installed.names.includes(n));
    const due =
      options.force === true || !covers || now >= renewalTime(installed.notBefore, installed.notAfter, a.renewBefore);
    let outcome: CertificateStatus["outcome"] = "current";
    let error: string | undefined;
    if (due) {
      try {
        await install(folder, await issue(options, host.names, host.challenge), a.hostKeyGroup);
        outcome = "issued";
        issuedAny = true;
        logger.info({ host: host.id, names: host.names }, "acme: host certificate issued and installed");
      } catch (err) {
        outcome = "failed";
        error = (err as Error).message;
        logger.error(
          { host: host.id, names: host.names, err: error },
          "acme: host certificate order failed: the names it lacks are served with the main certificate; retried at the next run",
        );
      }
    }
    const current = await readInstalled(certFile);
    const valid = current !== undefined && now < current.notAfter;
    statuses.push({
      id: host.id,
      outcome,
      names: host.names,
      served: valid ? host.names.filter((n) => current.names.includes(n)) : [],
      ...(current ? { certificate: describe(current, a.renewBefore) } : {}),
      checkedAt: now.toISOString(),
      ...(error !== undefined ? { error } : {}),
    });
  }
  await removeUnlisted(dir, a.hosts);

  const files = webFrontFiles(
    statuses.map((s) => ({ id: s.id, names: s.served })),
    hostsDir(a.webStateDir ?? a.stateDir),
  );
  const namesFile = join(dir, HOST_CERTIFICATES.names);
  const mapFile = join(dir, HOST_CERTIFICATES.map);
  const rewritten = (await readText(namesFile)) !== files.names || (await readText(mapFile)) !== files.map;
  // The map first: nginx may reload between the two, and a name it serves must be in the map.
  await writeFileAtomic(mapFile, files.map, 0o644);
  await writeFileAtomic(namesFile, files.names, 0o644);
  const status: HostCertificatesStatus = {
    checkedAt: now.toISOString(),
    changed: rewritten || issuedAny,
    hosts: statuses,
  };
  if (status.changed)
    for (const reload of options.reloads ?? []) {
      try {
        await reload.run();
        logger.info({ reload: reload.name }, "acme: reloaded for the host certificates");
      } catch (err) {
        logger.error({ reload: reload.name, err: (err as Error).message }, "acme: reload failed");
      }
    }
  await writeFileAtomic(join(dir, "status.json"), `${JSON.stringify(status, null, 2)}\n`, 0o644);
  return status;
}

/**
 * The key readable by the web front's workers' group from its first moment (nginx loads it at
 * each handshake), then the chain. A handshake between the two renames finds the new key with the
 * old chain and fails: microseconds, once in 60 days per certificate.
 */
async function install(folder: string, issued: { key: string; cert: string }, keyGroup: number): Promise<void> {
  await mkdir(folder, { recursive: true, mode: 0o755 });
  // Not root (a test run as a user): the key keeps its owner's group.
  const owner = process.getuid?.() === 0 ? { uid: 0, gid: keyGroup } : undefined;
  await writeFileAtomic(join(folder, "privkey.pem"), issued.key, 0o640, owner);
  await writeFileAtomic(join(folder, "fullchain.pem"), issued.cert, 0o644);
}

/** A domain gone from the list takes its certificate folder with it. */
async function removeUnlisted(dir: string, hosts: readonly HostCertificate[]): Promise<void> {
  const listed = new Set(hosts.map((h) => h.id));
  for (const entry of await readdir(dir, { withFileTypes: true }))
    if (entry.isDirectory() && !listed.has(entry.name))
      await rm(join(dir, entry.name), { recursive: true, force: true });
}
