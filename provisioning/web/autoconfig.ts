// Mozilla's autoconfig, which Thunderbird (and other mail programs) fetch from
// autoconfig.<domain>/mail/config-v1.1.xml or <domain>/.well-known/autoconfig/mail/config-v1.1.xml
// when a user types their address: for a live mail domain served here, the mail host, its
// ports and TLS, and the login, which is the whole address (it reveals no LDAP uid). No login
// and no directory: the answer is the same for every address of a domain.
// Format: https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
import type { FastifyInstance } from "fastify";
import type { MailClientServers } from "../../config/mail-clients.ts";
import { asciiLower } from "../../config/reserved-names.ts";
import type { UsersList } from "../../config/users-list.ts";
import { escapeHtml } from "./html.ts";

export const AUTOCONFIG_PATHS = ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"] as const;

/** The mail domain asked about: the address's domain, else the host asked (autoconfig.<domain> or <domain>). */
export function askedDomain(emailAddress: string | undefined, hostname: string): string {
  if (emailAddress !== undefined && emailAddress.includes("@")) return asciiLower(emailAddress.slice(emailAddress.lastIndexOf("@") + 1)).replace(/\.$/, "");
  return asciiLower(hostname).replace(/:\d+$/, "").replace(/\.$/, "").replace(/^autoconfig\./, "");
}

/** One <incomingServer> or <outgoingServer>; escapeHtml's character references are XML's too. */
function server(element: "incomingServer" | "outgoingServer", type: string, host: string, port: number, socketType: "SSL" | "STARTTLS"): string {
  return `    <${element} type="${type}">
      <hostname>${escapeHtml(host)}</hostname>
      <port>${port}</port>
      <socketType>${socketType}</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </${element}>`;
}

/**
 * The clientConfig document for `domain`. Servers come in the order programs should prefer
 * them: TLS from the first byte before STARTTLS (RFC 8314), IMAP before POP3; a port of 0
 * (a service not offered) is left out. The password goes in the clear only inside TLS.
 */
export function autoconfigXml(domain: string, provider: string, servers: MailClientServers): string {
  const { host, ports } = servers;
  const entries = [
    ports.imaps && server("incomingServer", "imap", host, ports.imaps, "SSL"),
    ports.imap && server("incomingServer", "imap", host, ports.imap, "STARTTLS"),
    ports.pop3s && server("incomingServer", "pop3", host, ports.pop3s, "SSL"),
    ports.submissions && server("outgoingServer", "smtp", host, ports.submissions, "SSL"),
    ports.submission && server("outgoingServer", "smtp", host, ports.submission, "STARTTLS"),
  ].filter((entry): entry is string => typeof entry === "string");
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${escapeHtml(provider)}">
    <domain>${escapeHtml(domain)}</domain>
    <displayName>SEMail (${escapeHtml(provider)})</displayName>
    <displayShortName>SEMail</displayShortName>
${entries.join("\n")}
  </emailProvider>
</clientConfig>
`;
}

export interface AutoconfigOptions {
  /** The managed domain: the provider's id and name. */
  readonly provider: string;
  readonly servers: MailClientServers;
  /** The users list now (its live mailboxes' domains are the ones answered). */
  readonly list: () => Promise<UsersList>;
}

export function registerAutoconfigRoutes(app: FastifyInstance, options: AutoconfigOptions): void {
  for (const path of AUTOCONFIG_PATHS) {
    app.get<{ Querystring: { emailaddress?: unknown } }>(path, async (request, reply) => {
      const address = typeof request.query.emailaddress === "string" ? request.query.emailaddress : undefined;
      const domain = askedDomain(address, request.hostname);
      // Live mailboxes only: a pending claim's domain is not (yet) served here.
      if (!(await options.list()).hasDomain(domain)) {
        return reply.code(404).type("text/plain; charset=utf-8")
          .send(`${JSON.stringify(domain.slice(0, 253))} is not a mail domain served here: set up your mail program by hand, with the settings your provider gives you.\n`);
      }
      return reply.type("application/xml; charset=utf-8").send(autoconfigXml(domain, options.provider, options.servers));
    });
  }
}
