// The certificate the daemons serve (tls.cert): still valid, and not about to expire; and,
// when ACME manages it, whether the last renewal failed (the old one is then still served), and
// each MTA-STS policy host's own certificate that could not be had (its name gets the main one).
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Settings } from "../../../config/settings.ts";
import { readCertificateStatus, readHostCertificatesStatus } from "../../acme/index.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** Fewer days left than this is a warning: ACME renews at a third of the lifetime left, so this means renewal is stuck. */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

export async function certificateFindings(settings: Settings, now: Date): Promise<Finding[]> {
  const file = settings.tls.cert;
  if (file === undefined)
    return [
      warn(
        "certificate",
        "tls.cert",
        "no certificate is set: STARTTLS is off",
        "set tls.cert and tls.key, or give the stack an ACME account key",
      ),
    ];
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(file));
  } catch (err) {
    return [
      fail(
        "certificate",
        file,
        `cannot read it: ${(err as Error).message}`,
        "check tls.cert points at a PEM certificate chain",
      ),
    ];
  }
  const findings = [expiry(file, cert, now)];
  const status = await readCertificateStatus(settings.acme.stateDir);
  if (status?.outcome === "failed")
    findings.push(
      warn(
        "certificate",
        "ACME renewal",
        `the last renewal (${status.checkedAt}) failed: ${status.error ?? "no reason given"}; the old certificate is still served`,
        "run `semail cert renew` and read its error",
      ),
    );
  const hosts = await readHostCertificatesStatus(settings.acme.stateDir);
  for (const host of hosts?.hosts ?? [])
    if (host.outcome === "failed")
      findings.push(
        warn(
          "certificate",
          `policy host ${host.names.join(", ")}`,
          `no certificate of its own (${host.checkedAt}): ${host.error ?? "no reason given"}; senders cannot fetch its MTA-STS policy`,
          "check its DNS points at this host (the web form's mta-sts line), then `semail cert renew`",
        ),
      );
  return findings;
}

function expiry(file: string, cert: X509Certificate, now: Date): Finding {
  const names = cert.subjectAltName ?? cert.subject;
  const left = (new Date(cert.validTo).getTime() - now.getTime()) / DAY_MS;
  const detail = `${names}; valid until ${new Date(cert.validTo).toISOString()}`;
  if (left <= 0)
    return fail("certificate", file, `expired: ${detail}`, "renew it now (`semail cert renew`) and reload the daemons");
  if (new Date(cert.validFrom).getTime() > now.getTime())
    return fail("certificate", file, `not valid yet: ${detail}`, "check this machine's clock");
  if (left < EXPIRY_WARNING_DAYS)
    return warn(
      "certificate",
      file,
      `${Math.floor(left)} days left: ${detail}`,
      "renew it (`semail cert renew`); ACME should have by now",
    );
  return ok("certificate", file, `${Math.floor(left)} days left: ${detail}`);
}
