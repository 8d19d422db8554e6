// The mail host as local mode's mail programs reach it (the zone's SRV records, the form's
// autoconfig): this machine's loopback, on the ports local mode's own Dovecot and inbound
// daemon listen on, not the standard ones. Read from the settings local mode runs them with
// (its ports are fixed, never 0), before they start: the zone is published first.
import type { MailClientServers } from "../../config/mail-clients.ts";
import type { Settings } from "../../config/settings.ts";
import { submissionListeners } from "../../mailservers/inbound/submission-settings.ts";

/**
 * `settings` as the inbound daemon is given them (with the local certificate, tls.ts);
 * `imapRuns` when Dovecot runs (as root).
 * A service that does not run gets port 0 (not offered): AUTH needs a certificate on
 * inbound, as the daemon itself decides (mailservers/inbound/daemon.ts).
 */
export function localMailClients(settings: Settings, imapRuns: boolean): MailClientServers {
  const withTls = settings.tls.cert !== undefined && settings.tls.key !== undefined;
  const auth = withTls ? submissionListeners(settings).filter((s) => s.host !== "::1") : [];
  const submission = (implicitTls: boolean) => auth.find((s) => s.implicitTls === implicitTls)?.port ?? 0;
  const { imap } = settings;
  return {
    host: "127.0.0.1",
    ports: {
      imap: imapRuns ? imap.imapPort : 0,
      imaps: imapRuns ? imap.imapsPort : 0,
      pop3s: imapRuns ? imap.pop3sPort : 0,
      submission: submission(false),
      submissions: submission(true),
    },
  };
}
