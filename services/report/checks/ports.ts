// Each TLS listener answers as a mail client meets it, with the certificate installed at
// tls.cert: inbound's (25 and 587 with STARTTLS, 465 at once), Dovecot's (993 and 995 at once,
// 143 with STARTTLS), and the HTTPS addresses in report.httpsUrls. A daemon that was not
// reloaded after a renewal still shows the old certificate; this is where that shows.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Settings } from "../../../config/settings.ts";
import { fail, ok, warn, type Finding } from "../check.ts";
import { probeCertificate, type Handshake } from "./tls-probe.ts";

interface Listener {
  /** "inbound 127.0.0.1:25", "IMAP 127.0.0.1:993", "https://mail.example.org/". */
  readonly subject: string;
  readonly host: string;
  readonly port: number;
  readonly handshake: Handshake;
  /** The name TLS asks for (SNI). */
  readonly servername: string;
  /** What to start when it does not answer. */
  readonly start: string;
}

/**
 * A wildcard listen address is reached on loopback: Node's "::" takes IPv4 too, Dovecot's
 * "::" is IPv6 only (hence its default "*" and "::").
 */
const reachable = (host: string, v6only = false) =>
  host === "*" || host === "0.0.0.0" || host === "" || (host === "::" && !v6only)
    ? "127.0.0.1"
    : host === "::"
      ? "::1"
      : host;
const hostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** Every listener the settings say should serve tls.cert. */
export function tlsListeners(settings: Settings): Listener[] {
  const name = settings.hostname;
  const listeners: Listener[] = settings.inbound.listen.map((spec) => {
    const host = reachable(spec.host);
    return {
      subject: `inbound ${hostPort(host, spec.port)}`,
      host,
      port: spec.port,
      handshake: spec.implicitTls ? "tls" : "smtp-starttls",
      servername: name,
      start: "start the inbound daemon (`semail inbound`, or its container)",
    };
  });
  const imapHost = settings.report.imapHost ?? reachable(settings.imap.listen[0]!, true);
  const imap: Array<[string, number, Handshake]> = [
    ["IMAP", settings.imap.imapPort, "imap-starttls"],
    ["IMAPS", settings.imap.imapsPort, "tls"],
    ["POP3S", settings.imap.pop3sPort, "tls"],
  ];
  for (const [what, port, handshake] of imap)
    if (port !== 0)
      listeners.push({
        subject: `${what} ${hostPort(imapHost, port)}`,
        host: imapHost,
        port,
        handshake,
        servername: name,
        start: "start Dovecot (its container, or `semail start`), or set its imap port to 0 where it does not run",
      });
  for (const url of settings.report.httpsUrls) {
    const parsed = new URL(url);
    listeners.push({
      subject: url,
      host: parsed.hostname.replace(/^\[|\]$/g, ""),
      port: Number(parsed.port || 443),
      handshake: "tls",
      servername: parsed.hostname,
      start: "start the web server behind it, or take it out of report.httpsUrls",
    });
  }
  return listeners;
}

export async function portFindings(settings: Settings, now: Date): Promise<Finding[]> {
  const file = settings.tls.cert;
  if (file === undefined) return [ok("ports", "TLS listeners", "not applicable: no certificate is set (tls.cert)")];
  let installed: X509Certificate;
  try {
    installed = new X509Certificate(await readFile(file));
  } catch (err) {
    // The certificate check says why; here it only means there is nothing to compare with.
    return [
      fail("ports", "TLS listeners", `cannot read tls.cert: ${(err as Error).message}`, "fix tls.cert (see above)"),
    ];
  }
  const reload =
    settings.acme.reload.length > 0
      ? `reload it: ${settings.acme.reload.map((argv) => argv.join(" ")).join("; ")}`
      : "reload the daemon so it reads tls.cert again (SIGHUP; `doveadm reload` for Dovecot)";
  return Promise.all(
    tlsListeners(settings).map(async (l): Promise<Finding> => {
      const found = await probeCertificate(l.host, l.port, l.handshake, l.servername);
      if (found.kind !== "certificate")
        return found.kind === "silent"
          ? warn("ports", l.subject, `does not answer: ${found.error}`, l.start)
          : fail("ports", l.subject, `answers, but no TLS: ${found.error}`, `read its log; ${reload}`);
      const shown = found.cert;
      const about = `${shown.subjectAltName ?? shown.subject}; valid until ${new Date(shown.validTo).toISOString()}`;
      if (shown.fingerprint256 !== installed.fingerprint256)
        return fail("ports", l.subject, `serves another certificate than tls.cert (${about})`, reload);
      if (new Date(shown.validTo).getTime() <= now.getTime())
        return fail(
          "ports",
          l.subject,
          `serves an expired certificate (${about})`,
          "renew it (`semail cert renew`) and reload",
        );
      if (shown.checkHost(settings.hostname) === undefined)
        return fail(
          "ports",
          l.subject,
          `its certificate does not name ${settings.hostname}, the name mail clients use (${about})`,
          `get a certificate for ${settings.hostname} (\`semail cert renew\`) or correct \`hostname\``,
        );
      return ok("ports", l.subject, `serves tls.cert (${about})`);
    }),
  );
}
