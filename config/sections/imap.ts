// Settings of Dovecot over the users' mbox files (services/imap): IMAP and POP3 with
// an LDAP login. The mailboxes come from `inbound.mailRoot`, the login from `ldap`, the
// certificate from `tls`.
import * as z from "zod/mini";
import { integer, nonEmpty } from "./common.ts";

/** "10.0.0.0/8", "fd00::/64" or a single address (as login_trusted_networks takes them). */
const network = z.string().check(
  z.regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, {
    message: "must be an address or ADDR/PREFIX such as 10.88.0.0/16 or fd00::/64",
  }),
);
/** An address Dovecot can listen on: "*" (every IPv4), "::" (every IPv6) or one address. */
const address = z.string().check(
  z.regex(/^(\*|::|[0-9.]+|[0-9a-fA-F:]+)$/, {
    message: 'must be "*", "::" or one address such as 127.0.0.1 or ::1',
  }),
);
/** A port; 0 turns the listener off. */
const port = () => integer(0, 65535);

export const imapSettings = z.strictObject({
  /** Addresses Dovecot listens on ("*" every IPv4, "::" every IPv6). */
  listen: z._default(z.array(address).check(z.minLength(1)), ["*", "::"]),
  /** IMAP with STARTTLS; 0 turns it off. */
  imapPort: z._default(port(), 143),
  /** IMAP over TLS; 0 turns it off. */
  imapsPort: z._default(port(), 993),
  /** POP3 over TLS; 0 turns it off. */
  pop3sPort: z._default(port(), 995),
  /** Client networks that may log in without TLS besides loopback (127.0.0.1, ::1), e.g. the users' container network. */
  trustedNetworks: z._default(z.array(network), []),
  /** Dovecot's own directory: its index and control files (per user, owned by the mail uid), sockets, the rendered users file. */
  stateDir: z._default(nonEmpty(), "/var/lib/semail/imap"),
  /** Concurrent IMAP (or POP3) connections of one user from one address (a webmail, a phone and a desktop each keep several). */
  maxUserConnections: z._default(integer(1, 1000), 20),
});

export type ImapSettings = z.output<typeof imapSettings>;
