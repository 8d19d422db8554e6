// Settings of the certificate manager (services/acme, `semail cert`): which names get a
// certificate from which ACME CA, how the CA checks them (DNS-01 through SEMail's own zone, or
// HTTP-01 on port 80), when to renew, and what to reload. The certificate and key go where the
// `tls` settings name them: the daemons, Dovecot and the webmail's nginx read them there.
import * as z from "zod/mini";
import { domainName, duration, nonEmpty } from "./common.ts";

/** A name a certificate may cover: a domain, or "*." and a domain (DNS-01 only). */
const certificateName = z.pipe(
  z.string(),
  z.transform((value, ctx) => {
    const wildcard = value.startsWith("*.");
    const parsed = domainName.safeParse(wildcard ? value.slice(2) : value);
    if (!parsed.success) {
      ctx.issues.push({ code: "custom", input: value, message: parsed.error.issues[0]?.message ?? "not a domain" });
      return z.NEVER;
    }
    return wildcard ? `*.${parsed.data}` : parsed.data;
  }),
);

export const acmeSettings = z
  .strictObject({
    /** The CA's ACME directory (Let's Encrypt's by default; its staging one to try things out). */
    directoryUrl: z._default(z.url(), "https://acme-v02.api.letsencrypt.org/directory"),
    /** A PEM file of CA certificates to trust for the directory's own HTTPS, besides the system's (a test CA such as Pebble). */
    directoryCa: z.optional(nonEmpty()),
    /** Contact address given to the CA (expiry notices). */
    email: z.optional(z.email()),
    /** The account's private key (PEM): a stack secret, written here by the deployment; made on first use if missing. */
    accountKey: z._default(nonEmpty(), "/etc/semail/acme/account.key"),
    /** The names on the certificate; empty: mx, imap, webmail and autoconfig under managedDomain. */
    names: z._default(z.array(certificateName), []),
    /** How the CA checks that we hold the names: a TXT in our own zone, or a file served on port 80. */
    challenge: z._default(z.enum(["dns-01", "http-01"]), "dns-01"),
    /** Renew when the certificate has less than this left (or less than a third of its lifetime, whichever comes first). */
    renewBefore: z._default(duration, 30 * 86_400_000),
    /** The manager's own files: status.json, and the HTTP-01 files (`.well-known/acme-challenge/`, served by the webmail's nginx). */
    stateDir: z._default(nonEmpty(), "/var/lib/semail/acme"),
    /** DNS-01: the installed zone file of managedDomain the challenge TXT records are added to. */
    zoneFile: z.optional(nonEmpty()),
    /** DNS-01: the command that installs a zone (read on stdin) and reloads named, run as `argv[0] DOMAIN argv[1..]`. */
    installZone: z._default(z.array(nonEmpty()), ["/usr/local/lib/semail/install-zone.sh"]),
    /** Commands run after a new certificate is installed (each an argv), e.g. ["doveadm", "reload"]. */
    reload: z._default(z.array(z.array(nonEmpty()).check(z.minLength(1))), []),
  })
  .check(
    z.refine((a) => a.challenge === "dns-01" || !a.names.some((n) => n.startsWith("*.")), {
      message: "a wildcard name needs challenge: dns-01 (HTTP-01 cannot prove a wildcard)",
    }),
  );

export type AcmeSettings = z.output<typeof acmeSettings>;

/** The names a certificate covers: the given ones, or the mail host's names under `domain`. */
export function certificateNames(acme: Pick<AcmeSettings, "names">, domain: string): string[] {
  if (acme.names.length > 0) return [...new Set(acme.names)];
  return ["mx", "imap", "webmail", "autoconfig"].map((label) => `${label}.${domain}`);
}
