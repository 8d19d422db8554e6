// Local mode's one certificate, for the parts that speak TLS on loopback: the inbound
// daemon's submission listeners (587's and 465's roles) and Dovecot. Self-signed and made
// once in <dataDir>/tls/ (services/imap/certificate.ts), so it is also the CA a mail
// program checks them against. The outbound daemon gets none: on loopback and the users'
// network it takes AUTH without TLS, and a STARTTLS it offered would make the webmail and
// the containers' msmtp check a certificate they were never given.
import { join } from "node:path";
import type { Settings } from "../../config/settings.ts";
import { localCertificate } from "../../services/imap/certificate.ts";

/** `settings` with `tls` naming the local certificate, unless the settings name one of their own. */
export async function withLocalCertificate(settings: Settings, dataDir: string): Promise<Settings> {
  if (settings.tls.cert !== undefined) return settings;
  return { ...settings, tls: await localCertificate(join(dataDir, "tls"), settings.hostname) };
}
