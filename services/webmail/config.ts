// Roundcube's configuration from SEMail's settings: pure functions, no I/O. The webmail logs
// in to Dovecot (services/imap) with the LDAP login, sends through the outbound daemon
// with the same login, and gives every user exactly one identity: their mailbox address
// from the users list (the virtuser_file plugin reads config/webmail-addresses.ts's file).
//
// Decisions, said once:
// - Identity: `identities_level = 3` (one identity, its address not editable). The address
//   comes from the address file ("address uid" lines) when Roundcube creates the user at the
//   first login. The outbound daemon refuses any other MAIL FROM
//   (553 5.7.1) anyway; the lock keeps users from writing a From it would refuse.
// - Login name: the LDAP uid, or the user's mailbox address (`login_username_filter`), as
//   Dovecot takes them; Roundcube turns a live address into its owner's uid through the
//   address file before it logs in, so the user's Roundcube account is the same either way.
//   Any other address goes to Dovecot as typed, which refuses it.
// - CSRF: Roundcube 1.6 checks its request token on every state-changing request and has no
//   switch to turn that off (there is no `request_check` setting to set); sessions are bound
//   to the client address (`ip_check`), SameSite=Strict, and end after `sessionMinutes`.
// - des_key: random per installation, in a file of the state directory (outside the web
//   root and never in an image), read by the configuration at each request.
// - No plugin that reaches the Internet: only virtuser_file; no spell check, no installer.
import { isLoopbackHost } from "../../lib/ip-networks.ts";

/** How Roundcube checks a server's certificate. */
export type PeerCheck =
  /** Only for a server on loopback: its certificate is self-signed (local mode), and no one can stand between two processes of one machine, so checking it proves nothing. */
  | { readonly verify: false }
  /** The system's CAs, or `caFile` (e.g. the deployment's own certificate, pinned), for the name `peerName` when set. */
  | { readonly verify: true; readonly caFile?: string; readonly peerName?: string };

export interface RoundcubeConfig {
  /** `tls://HOST:PORT` (STARTTLS) or `ssl://HOST:PORT` (implicit TLS): Dovecot. */
  readonly imapHost: string;
  readonly imapPeer: PeerCheck;
  /** `HOST:PORT` (plain, loopback or a trusted network), or with `tls://` / `ssl://`: the outbound daemon's submission. */
  readonly smtpHost: string;
  readonly smtpPeer: PeerCheck;
  /** File holding the des_key (read at each request). */
  readonly desKeyFile: string;
  /** SQLite database file (sessions, the users' settings and identities). */
  readonly databaseFile: string;
  readonly tempDir: string;
  /** The address file (config/webmail-addresses.ts). */
  readonly addressFile: string;
  readonly sessionMinutes: number;
  /** Reached over HTTPS (a TLS proxy in front): Secure cookies. */
  readonly behindTls: boolean;
  /** Proxies whose X-Forwarded-For is believed (for ip_check and the logs). */
  readonly trustedProxies?: readonly string[];
}

/** The host part of `scheme://host:port` or `host:port`. */
export function hostOf(address: string): string {
  const rest = address.replace(/^[a-z]+:\/\//, "");
  const bracket = /^\[([^\]]+)\]/.exec(rest);
  if (bracket) return bracket[1]!;
  return rest.replace(/:\d+$/, "");
}

/**
 * The webmail's login page with `address` filled in as the login name. Roundcube 1.6 has no
 * setting for a hint on its login page (the username label comes from its translations,
 * which a configuration cannot replace), but its login form takes `_user` from the query.
 */
export function webmailLoginUrl(webmailUrl: string, address: string): string {
  const url = new URL(webmailUrl);
  url.searchParams.set("_user", address);
  return url.toString();
}

/** A PHP single-quoted string literal. */
export function php(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function connOptions(key: string, host: string, peer: PeerCheck): string[] {
  if (!/^(tls|ssl):\/\//.test(host)) {
    if (key === "imap_conn_options")
      throw new Error(
        `webmail: the IMAP host ${host} must be tls://HOST:PORT or ssl://HOST:PORT: the password goes over this connection`,
      );
    if (!isLoopbackHost(hostOf(host)))
      throw new Error(
        `webmail: the submission host ${host} is not on loopback: use tls://HOST:PORT so the password is encrypted`,
      );
    return [`$config['${key}'] = null;`];
  }
  if (!peer.verify) {
    if (!isLoopbackHost(hostOf(host)))
      throw new Error(`webmail: ${host} is not on loopback, so its certificate must be checked`);
    return [
      "// Loopback only: the certificate is self-signed and the connection never leaves this machine.",
      `$config['${key}'] = ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false]];`,
    ];
  }
  const ssl = ["'verify_peer' => true", "'verify_peer_name' => true"];
  if (peer.caFile !== undefined) ssl.push(`'cafile' => ${php(peer.caFile)}`);
  if (peer.peerName !== undefined) ssl.push(`'peer_name' => ${php(peer.peerName)}`);
  return [`$config['${key}'] = ['ssl' => [${ssl.join(", ")}]];`];
}

/** config.inc.php (Roundcube reads defaults.inc.php first, from the same directory). */
export function renderRoundcubeConfig(c: RoundcubeConfig): string {
  const lines = [
    "<?php",
    "// Written by SEMail (services/webmail/config.ts) from its settings; edits are overwritten.",
    "$config = [];",
    `$config['db_dsnw'] = ${php(`sqlite:///${c.databaseFile}?mode=0600`)};`,
    `$config['imap_host'] = ${php(c.imapHost)};`,
    ...connOptions("imap_conn_options", c.imapHost, c.imapPeer),
    "// Dovecot's folders: it creates them at login, and subscribes the pair folders.",
    "$config['create_default_folders'] = false;",
    "$config['drafts_mbox'] = 'Drafts';",
    "$config['sent_mbox'] = 'Sent';",
    "$config['trash_mbox'] = 'Trash';",
    "$config['junk_mbox'] = 'Junk';",
    `$config['smtp_host'] = ${php(c.smtpHost)};`,
    ...connOptions("smtp_conn_options", c.smtpHost, c.smtpPeer),
    "$config['smtp_user'] = '%u';",
    "$config['smtp_pass'] = '%p';",
    "// The login is the LDAP uid or the mailbox address (virtuser_file maps it to the uid), as Dovecot takes them.",
    "$config['login_username_filter'] = '/^[A-Za-z0-9._-]+(@[A-Za-z0-9.-]+)?$/';",
    "$config['login_lc'] = 2;",
    "$config['login_autocomplete'] = 0;",
    "// One identity per user, its address not editable: the mailbox address (virtuser_file).",
    "$config['plugins'] = ['virtuser_file'];",
    `$config['virtuser_file'] = ${php(c.addressFile)};`,
    "$config['identities_level'] = 3;",
    "// Random per installation, outside the web root; never in an image.",
    `$config['des_key'] = trim((string) @file_get_contents(${php(c.desKeyFile)}));`,
    "$config['cipher_method'] = 'AES-256-CBC';",
    `$config['session_lifetime'] = ${Math.trunc(c.sessionMinutes)};`,
    "$config['session_name'] = 'semail_webmail';",
    "$config['session_auth_name'] = 'semail_webmail_auth';",
    "$config['session_samesite'] = 'Strict';",
    "$config['ip_check'] = true;",
    `$config['use_https'] = ${c.behindTls ? "true" : "false"};`,
    `$config['proxy_whitelist'] = [${(c.trustedProxies ?? []).map(php).join(", ")}];`,
    "$config['x_frame_options'] = 'sameorigin';",
    "$config['enable_installer'] = false;",
    "$config['enable_spellcheck'] = false;",
    "$config['display_product_info'] = 0;",
    "$config['product_name'] = 'SEMail webmail';",
    "$config['useragent'] = 'SEMail webmail';",
    "$config['support_url'] = '';",
    "$config['skin'] = 'elastic';",
    // stdout: `php -S` hands it to whoever started it (local mode's log, docker logs).
    "$config['log_driver'] = 'stdout';",
    "$config['log_logins'] = true;",
    `$config['temp_dir'] = ${php(c.tempDir.endsWith("/") ? c.tempDir : `${c.tempDir}/`)};`,
    "",
  ];
  return lines.join("\n");
}
