// Mozilla's autoconfig, which Thunderbird (and other mail programs) fetch from
// autoconfig.<domain>/mail/config-v1.1.xml or <domain>/.well-known/autoconfig/mail/config-v1.1.xml
// when a user types their address: for a live mail domain served here, the mail host, its
// ports and TLS, and the login, which is the whole address (it reveals no LDAP uid). No
// secret and no directory: the answer is the same for every address of a domain. Pure: the
// web form answers with it, and the Pulumi program writes it for the webmail's nginx on the VM.
// Format: https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
import type { MailClientServers } from "./mail-clients.ts";
import { asciiLower } from "./reserved-names.ts";
import type { UsersList } from "./users-list.ts";

export const AUTOCONFIG_PATHS = ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"] as const;

/** The mail domain asked about: the address's domain, else the host asked (autoconfig.<domain> or <domain>). */
export function askedDomain(emailAddress: string | undefined, hostname: string): string {
  if (emailAddress?.includes("@"))
    return asciiLower(emailAddress.slice(emailAddress.lastIndexOf("@") + 1)).replace(/\.$/, "");
  return asciiLower(hostname)
    .replace(/:\d+$/, "")
    .replace(/\.$/, "")
    .replace(/^autoconfig\./, "");
}

/** The 404's words for a domain not served here (or a claim not proven yet). */
export function notServedText(domain: string): string {
  return `${JSON.stringify(domain.slice(0, 253))} is not a mail domain served here: set up your mail program by hand, with the settings your provider gives you.\n`;
}

/** Text and attribute values: the five characters XML gives a meaning to, as character references. */
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One <incomingServer> or <outgoingServer>. */
function server(
  element: "incomingServer" | "outgoingServer",
  type: string,
  host: string,
  port: number,
  socketType: "SSL" | "STARTTLS",
): string {
  return `    <${element} type="${type}">
      <hostname>${escapeXml(host)}</hostname>
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
  <emailProvider id="${escapeXml(provider)}">
    <domain>${escapeXml(domain)}</domain>
    <displayName>SEMail (${escapeXml(provider)})</displayName>
    <displayShortName>SEMail</displayShortName>
${entries.join("\n")}
  </emailProvider>
</clientConfig>
`;
}

/** The webmail's folder of documents, beside its address file (assets/images/webmail reads it there). */
export const AUTOCONFIG_FOLDER = "autoconfig";

/** A domain as the users list keeps it (lowercase labels): the only names a document file may have. */
const FILE_DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** The file a domain's document is served from, in the directory nginx looks in (`<domain>.xml`). */
export function autoconfigFileName(domain: string): string {
  if (!FILE_DOMAIN.test(domain))
    throw new Error(
      `autoconfig: ${JSON.stringify(domain)} is not a lowercase domain name, so no file is named after it`,
    );
  return `${domain}.xml`;
}

/**
 * File name -> document, one per domain with a live mailbox (the managed domain when a
 * mailbox is on it, its subdomains, proven or hand-written external domains; never a pending
 * claim's), the same documents the web form answers with.
 */
export function autoconfigFiles(list: UsersList, provider: string, servers: MailClientServers): Record<string, string> {
  const files: Record<string, string> = {};
  for (const domain of [...list.domains()].sort())
    files[autoconfigFileName(domain)] = autoconfigXml(domain, provider, servers);
  return files;
}
