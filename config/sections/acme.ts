// Settings of the certificate manager (services/acme, `semail cert`): which names get a
// certificate from which ACME CA, how the CA checks them (DNS-01 through SEMail's own zone, or
// HTTP-01 on port 80), when to renew, and what to reload. The certificate and key go where the
// `tls` settings name them: the daemons, Dovecot and the webmail's nginx read them there.
import * as z from "zod/mini";
import { domainName, duration, integer, nonEmpty } from "./common.ts";

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

/**
 * Where the certificates of policy hosts live under the state directory, and the two files the
 * web front's nginx includes (by a glob, so none yet is no error): `server_name` lines for its
 * SNI server block, and a map from each name to the folder holding that name's certificate.
 */
export const HOST_CERTIFICATES = { folder: "hosts", names: "served.names", map: "served.map" } as const;
/** How nginx includes each of them: a glob that matches the file or nothing, never an error. */
export const includeGlob = (file: string): string => `${file.slice(0, -1)}[${file.at(-1)}]`;

/** A certificate of its own for some policy hosts (mta-sts.<domain>), apart from the main one. */
const hostCertificate = z.strictObject({
  /** Its folder under `<stateDir>/hosts/`: lowercase letters, digits, '.', '-'. */
  id: z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]*$/), z.maxLength(253)),
  /** The names it carries (no wildcard). */
  names: z.array(domainName).check(z.minLength(1), z.maxLength(100)),
  /** How the CA checks them: DNS-01 for names in our zone, HTTP-01 for another's (its owner points the name here). */
  challenge: z.enum(["dns-01", "http-01"]),
});

export type HostCertificate = z.output<typeof hostCertificate>;

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
    /**
     * Certificates of their own for the MTA-STS policy hosts of the served domains, each ordered,
     * renewed and failing alone; the web front serves each by SNI once it is issued (the main
     * certificate until then).
     */
    hosts: z._default(z.array(hostCertificate), []),
    /** The state directory as the web front's nginx sees it (the paths in its map); default stateDir. */
    webStateDir: z.optional(nonEmpty()),
    /** The group that may read the hosts' keys: nginx loads a certificate named by a variable in its worker (www-data, 33 on Debian). */
    hostKeyGroup: z._default(integer(0, 65_535), 33),
  })
  .check(
    z.refine((a) => a.challenge === "dns-01" || !a.names.some((n) => n.startsWith("*.")), {
      message: "a wildcard name needs challenge: dns-01 (HTTP-01 cannot prove a wildcard)",
    }),
    z.refine((a) => new Set(a.hosts.map((h) => h.id)).size === a.hosts.length, {
      message: "hosts: each id names one certificate's folder: give each host certificate its own id",
    }),
  );

export type AcmeSettings = z.output<typeof acmeSettings>;

/** The names a certificate covers: the given ones, or the mail host's names under `domain`. */
export function certificateNames(acme: Pick<AcmeSettings, "names">, domain: string): string[] {
  if (acme.names.length > 0) return [...new Set(acme.names)];
  return ["mx", "imap", "webmail", "autoconfig"].map((label) => `${label}.${domain}`);
}
