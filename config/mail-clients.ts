// Where mail programs (Thunderbird, phones) reach the mail host: one host name and a port per
// service, as the zone's SRV records (RFC 6186, RFC 8314) and the web form's Mozilla autoconfig
// announce them. Production publishes the standard ports on the VM (its webmail's nginx
// serves the autoconfig there); local mode its own.

/** A port per service a mail program uses; 0 where the service is not offered. */
export interface MailClientPorts {
  /** IMAP, STARTTLS before login (Dovecot's imapPort). */
  readonly imap: number;
  /** IMAP over TLS. */
  readonly imaps: number;
  /** POP3 over TLS. */
  readonly pop3s: number;
  /** SMTP submission, STARTTLS before AUTH. */
  readonly submission: number;
  /** SMTP submission over TLS (RFC 8314). */
  readonly submissions: number;
}

export const STANDARD_MAIL_CLIENT_PORTS: MailClientPorts = {
  imap: 143,
  imaps: 993,
  pop3s: 995,
  submission: 587,
  submissions: 465,
};

/** The mail host's name: the zone's mx, the name its certificate carries, what mail programs are sent to. */
export function mailHostName(managedDomain: string): string {
  return `mx.${managedDomain}`;
}

/** The mail host as mail programs reach it. */
export interface MailClientServers {
  /** Host name (or address) of the mail host; its certificate must name it. */
  readonly host: string;
  readonly ports: MailClientPorts;
}
