// Settings of the webmail (services/webmail): Debian's Roundcube over the same mail,
// logging in to Dovecot (`imap`) and sending through the outbound daemon (`outbound`) with
// the user's LDAP login. The webmail reads those sections for where to connect.
import * as z from "zod/mini";
import { integer, listenAddress, nonEmpty } from "./common.ts";

/** ADDR:PORT, no /tls: php -S speaks plain HTTP (TLS comes from a proxy in front). */
const listen = z.pipe(
  z.string().check(
    z.regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):\d{1,5}$/, {
      message: "must be ADDR:PORT such as 127.0.0.1:8081 (plain HTTP: put a TLS proxy in front for HTTPS)",
    }),
  ),
  listenAddress,
);

export const webmailSettings = z.strictObject({
  /** Where `php -S` serves Roundcube (plain HTTP: loopback, or behind a TLS proxy). */
  listen: z.prefault(listen, "127.0.0.1:8081"),
  /** Roundcube's own files: rendered configuration, des_key, SQLite database, temp files, the address file. */
  stateDir: z._default(nonEmpty(), "/var/lib/semail/webmail"),
  /** PHP worker processes serving requests (PHP_CLI_SERVER_WORKERS); each takes about 20 MiB. */
  workers: z._default(integer(1, 16), 2),
  /** Minutes of inactivity after which a webmail session ends. */
  sessionMinutes: z._default(integer(1, 24 * 60), 30),
  /** The webmail is reached over HTTPS (a TLS proxy in front): Secure cookies, HTTPS links. */
  behindTls: z._default(z.boolean(), false),
});

export type WebmailSettings = z.output<typeof webmailSettings>;
