// The certificate manager: one certificate (every name a SAN) from an ACME CA, checked by
// DNS-01 through SEMail's own zone or by HTTP-01 on port 80; renewed before it expires;
// written atomically where the `tls` settings say (the daemons, Dovecot and the webmail's
// nginx read it there); then each reload runs. A failed renewal leaves the certificate in use
// as it was, and the status (status.json in the state directory) says what failed and when.
//
//   const status = await renewCertificate({ settings, logger, dns01: publish, reloads });
//   status.outcome;   // "issued" | "current" | "failed"
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, mkdir } from "node:fs/promises";
import { Agent } from "node:https";
import { dirname, join } from "node:path";
import acme from "acme-client";
import type { Logger } from "pino";
import { certificateNames } from "../../config/sections/acme.ts";
import type { Settings } from "../../config/settings.ts";
import { systemClock, type Clock } from "../../lib/clock.ts";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { httpChallengeFiles, type ChallengeRecord, type PublishChallengeRecords } from "./challenges.ts";

/** What the last run found and did, as status.json keeps it (the form and the report read it). */
export interface CertificateStatus {
  readonly outcome: "issued" | "current" | "failed";
  /** The names asked for. */
  readonly names: readonly string[];
  /** The certificate in use now (the old one after a failure), if any. */
  readonly certificate?: {
    readonly names: readonly string[];
    readonly issuer: string;
    readonly notBefore: string;
    readonly notAfter: string;
    /** When the manager renews it. */
    readonly renewAt: string;
  };
  readonly checkedAt: string;
  /** Why the last issuance failed; the certificate above is still the one served. */
  readonly error?: string;
  /** The last time a certificate was issued and installed. */
  readonly issuedAt?: string;
}

export interface RenewOptions {
  readonly settings: Pick<Settings, "acme" | "tls" | "managedDomain">;
  readonly logger: Logger;
  /** DNS-01: publishes the challenge TXT records in the zone (challenges.ts). */
  readonly dns01?: PublishChallengeRecords;
  /** Run after a new certificate is installed, each in turn; a failing one is logged and the rest still run. */
  readonly reloads?: ReadonlyArray<{ readonly name: string; run(): Promise<unknown> }>;
  /** Issue even when the certificate in use is good for a while yet. */
  readonly force?: boolean;
  readonly clock?: Clock;
  /** How often the CA is polled for a challenge's or an order's status (acme-client's default: 5 s). */
  readonly pollMs?: number;
}

/** When a certificate valid from `notBefore` to `notAfter` is renewed: `renewBefore` or a third of its lifetime before the end, whichever is earlier. */
export function renewalTime(notBefore: Date, notAfter: Date, renewBefore: number): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return new Date(notAfter.getTime() - Math.max(renewBefore, lifetime / 3));
}

export interface InstalledCertificate {
  readonly names: string[];
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export async function readInstalled(certFile: string): Promise<InstalledCertificate | undefined> {
  let pem: string;
  try {
    pem = await readFile(certFile, "utf8");
  } catch {
    return undefined;
  }
  try {
    const cert = new X509Certificate(pem);
    const names = (cert.subjectAltName ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.startsWith("DNS:"))
      .map((s) => s.slice(4).toLowerCase());
    return {
      names,
      issuer: cert.issuer.replace(/\n/g, ", "),
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
    };
  } catch {
    return undefined; // not a certificate: issue a new one
  }
}

export function describe(
  cert: InstalledCertificate,
  renewBefore: number,
): NonNullable<CertificateStatus["certificate"]> {
  return {
    names: cert.names,
    issuer: cert.issuer,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    renewAt: renewalTime(cert.notBefore, cert.notAfter, renewBefore).toISOString(),
  };
}

/** The status file of `stateDir`, or undefined before the first run. */
export async function readCertificateStatus(stateDir: string): Promise<CertificateStatus | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, "status.json"), "utf8")) as CertificateStatus;
  } catch {
    return undefined;
  }
}

/** The account key from its file, or a new one written there (mode 0600) when there is none. */
async function accountKey(file: string, logger: Logger): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const key = (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, key, 0o600);
  logger.info({ accountKey: file }, "acme: made a new account key");
  return key;
}

/** Issues (or renews) the certificate when it is due, installs it, reloads, and records the status. */
export async function renewCertificate(options: RenewOptions): Promise<CertificateStatus> {
  const { settings, logger } = options;
  const { acme: a, tls } = settings;
  const clock = options.clock ?? systemClock;
  const now = new Date(clock.now());
  const names = certificateNames(a, settings.managedDomain);
  if (tls.cert === undefined || tls.key === undefined)
    throw new Error("acme: tls.cert and tls.key must name where the certificate and its key go");
  await mkdir(a.stateDir, { recursive: true, mode: 0o755 });
  const installed = await readInstalled(tls.cert);
  const covers = installed !== undefined && names.every((n) => installed.names.includes(n));
  const due =
    options.force === true ||
    !installed ||
    !covers ||
    now >= renewalTime(installed.notBefore, installed.notAfter, a.renewBefore);
  const previous = await readCertificateStatus(a.stateDir);

  let status: CertificateStatus;
  if (!due) {
    status = {
      outcome: "current",
      names,
      certificate: describe(installed, a.renewBefore),
      checkedAt: now.toISOString(),
      ...(previous?.issuedAt ? { issuedAt: previous.issuedAt } : {}),
    };
  } else {
    try {
      const issued = await issue(options, names, a.challenge);
      // The key first: a daemon reloads only when told, after both are in place.
      await mkdir(dirname(tls.key), { recursive: true });
      await mkdir(dirname(tls.cert), { recursive: true });
      await writeFileAtomic(tls.key, issued.key, 0o600);
      await writeFileAtomic(tls.cert, issued.cert, 0o644);
      const fresh = await readInstalled(tls.cert);
      status = {
        outcome: "issued",
        names,
        ...(fresh ? { certificate: describe(fresh, a.renewBefore) } : {}),
        checkedAt: now.toISOString(),
        issuedAt: new Date(clock.now()).toISOString(),
      };
      logger.info({ names, notAfter: fresh?.notAfter }, "acme: certificate issued and installed");
      for (const reload of options.reloads ?? []) {
        try {
          await reload.run();
          logger.info({ reload: reload.name }, "acme: reloaded");
        } catch (err) {
          logger.error({ reload: reload.name, err: (err as Error).message }, "acme: reload failed");
        }
      }
    } catch (err) {
      const message = (err as Error).message;
      logger.error(
        { names, err: message, keeping: installed?.notAfter },
        "acme: issuance failed: the certificate in use is kept",
      );
      status = {
        outcome: "failed",
        names,
        ...(installed ? { certificate: describe(installed, a.renewBefore) } : {}),
        checkedAt: now.toISOString(),
        error: message,
        ...(previous?.issuedAt ? { issuedAt: previous.issuedAt } : {}),
      };
    }
  }
  await writeFileAtomic(join(a.stateDir, "status.json"), `${JSON.stringify(status, null, 2)}\n`, 0o644);
  return status;
}

/**
 * One order: account, authorizations by the configured challenge, CSR with a new key, the chain.
 * acme-client's `auto()` and its CSR maker read and write CSRs through @peculiar/x509, which
 * fails when npm installs two copies of its ASN.1 schema registry (mailauth pins another one:
 * "Cannot get schema for 'CertificationRequest' target"); the steps are spelled out here
 * instead, with the CSR made by its node-forge interface (an RSA-2048 key).
 */
export async function issue(
  options: Omit<RenewOptions, "settings"> & { readonly settings: Pick<Settings, "acme"> },
  names: readonly string[],
  type: "dns-01" | "http-01",
): Promise<{ key: string; cert: string }> {
  const { settings, logger } = options;
  const a = settings.acme;
  if (type === "dns-01" && !options.dns01)
    throw new Error("acme: challenge dns-01 needs the zone (acme.zoneFile) to publish the TXT records in");
  if (a.directoryCa !== undefined) {
    // acme-client talks through its own axios instance: trust the directory's CA there only.
    acme.axios.defaults.httpsAgent = new Agent({ ca: await readFile(a.directoryCa, "utf8") });
  }
  const client = new acme.Client({
    directoryUrl: a.directoryUrl,
    accountKey: await accountKey(a.accountKey, logger),
    ...(options.pollMs !== undefined
      ? { backoffMin: options.pollMs, backoffMax: options.pollMs * 4, backoffAttempts: 30 }
      : {}),
  });
  try {
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(a.email !== undefined ? { contact: [`mailto:${a.email}`] } : {}),
    });
  } catch (err) {
    // An account that exists is "updated" with what was given; with no contact that is an empty
    // update, which RFC 8555 CAs (Pebble) refuse. Its URL is known by then: nothing to update.
    if (a.email !== undefined) throw err;
    client.getAccountUrl(); // throws when the account was not found or made
  }
  const order = await client.createOrder({ identifiers: names.map((value) => ({ type: "dns", value })) });
  const authorizations = await client.getAuthorizations(order);
  const files = httpChallengeFiles(a.stateDir);
  // Every answer in place first (one zone reload carries all the TXT records), then the CA is
  // asked to check each; they come out again whatever the CA said.
  const records: ChallengeRecord[] = [];
  const tokens: string[] = [];
  try {
    const pending = [];
    for (const authz of authorizations) {
      if (authz.status === "valid") continue;
      const name = authz.identifier.value;
      const challenge = authz.challenges.find((c) => c.type === type);
      if (!challenge) throw new Error(`acme: the CA offers no ${type} challenge for ${name}`);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      logger.info({ name, type: challenge.type }, "acme: answering challenge");
      if (challenge.type === "dns-01") {
        records.push({ name: `_acme-challenge.${name.replace(/^\*\./, "")}`, value: keyAuthorization });
      } else {
        const token = (challenge as { token: string }).token;
        tokens.push(token);
        await files.put(token, keyAuthorization);
      }
      pending.push({ name, challenge });
    }
    if (records.length > 0) await options.dns01!(records);
    await Promise.all(
      pending.map(async ({ name, challenge }) => {
        await client.completeChallenge(challenge);
        try {
          await client.waitForValidStatus(challenge);
        } catch (err) {
          throw new Error(`${name}: ${(err as Error).message}`);
        }
      }),
    );
  } finally {
    if (records.length > 0)
      await options.dns01!([]).catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, "acme: cannot take the challenge records out of the zone"),
      );
    for (const token of tokens) await files.remove(token).catch(() => undefined);
  }
  const [keyPem, csr] = await acme.forge.createCsr({
    commonName: names.find((n) => !n.startsWith("*.")) ?? names[0]!,
    altNames: [...names],
  });
  createPrivateKey(keyPem); // a key node can load, or fail here rather than in a daemon
  const finalized = await client.finalizeOrder(order, csr);
  return { key: keyPem.toString(), cert: await client.getCertificate(finalized) };
}
