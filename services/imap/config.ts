// Dovecot's configuration for IMAP and POP3 over the users' own mbox files, as pure
// functions of the settings and the users list. services/imap/dovecot.ts writes
// these files and runs Dovecot (local mode, tests); the image (assets/images/imap)
// renders the same configuration from its environment.
//
// Decisions (each also said where it is rendered):
// - A login name is the LDAP uid (a-z, 0-9, '.', '_', '-') or the address of a live mailbox,
//   which stands for its owner's uid (mail programs log in with the address: Thunderbird's
//   autoconfig says so, and it reveals no uid). Upper case is folded, as the web form and
//   SMTP AUTH fold it. Any other name with '@' (`alice@anything`, a pending claim's address)
//   is refused by the users file before LDAP is asked: Dovecot's %n would drop the domain
//   and let it in as alice.
// - The password is checked by an LDAP bind as the user; then the user must be in the
//   users file rendered from the users list's live mailboxes (pending ones are not there),
//   which also gives the uid: mailUid(owner), the owner of the mailbox filesystem.
// - Dovecot locks the mbox files with fcntl and the dotlock for reading and writing: the
//   inbound daemon takes only the dotlock, so a reader without it could index half of an
//   append, or a tail that crash recovery cuts back.
// - Clients see SEMail's mboxo quoting as stored (`>From ` for a body line sent as `From `,
//   other lines as sent): Dovecot does not undo it, and the files must keep it, or every reader that ignores Content-Length (Python's
//   mailbox, the users' own scripts) would split a message at such a line. Only 7/8-bit
//   bodies are touched (quoted-printable encoders write `=46rom`, format=flowed space-stuffs).
// - Every pair folder is subscribed at the next login by postlogin.sh (Dovecot's `auto` takes
//   no wildcard, and Roundcube shows only subscribed folders).
import { join } from "node:path";
import { FIRST_MAIL_UID } from "../../config/mail-uid.ts";
import type { ImapSettings } from "../../config/sections/imap.ts";
import type { LdapSettings } from "../../config/sections/ldap.ts";

/** Debian's Dovecot package makes these system users; the image and the host have them. */
export const DOVECOT_INTERNAL_USER = "dovecot";
export const DOVECOT_LOGIN_USER = "dovenull";

/** Where the rendered files live under `imap.stateDir`. */
export function imapPaths(stateDir: string) {
  return {
    stateDir,
    config: join(stateDir, "dovecot.conf"),
    ldapConfig: join(stateDir, "dovecot-ldap.conf.ext"),
    users: join(stateDir, "users"),
    postLogin: join(stateDir, "postlogin.sh"),
    /** Per user <index>/<owner>, owned by the mail uid: Dovecot's index files, never in the user's tree. */
    index: join(stateDir, "index"),
    /** Per user <control>/<owner>: subscriptions and other control files. */
    control: join(stateDir, "control"),
    run: join(stateDir, "run"),
    state: join(stateDir, "state"),
  };
}

export interface DovecotConfigInput {
  readonly imap: ImapSettings;
  readonly ldap: LdapSettings;
  /** `inbound.mailRoot`: <mailRoot>/<owner>/INBOX and <mailRoot>/<owner>/mail/. */
  readonly mailRoot: string;
  /** PEM files (settings `tls.cert`, `tls.key`). */
  readonly tls: { readonly cert?: string | undefined; readonly key?: string | undefined };
  /** Where Dovecot logs (default: its stderr). */
  readonly logPath?: string;
}

export class ImapConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImapConfigError";
  }
}

/** Login names Dovecot lets through to the lookups: an LDAP uid's characters and '@' (an address), upper case folded after. */
export const LOGIN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@";

/** A value Dovecot reads as one token: refused when it could end the line or the quotes. */
function value(setting: string, text: string): string {
  if (/[\n\r"\\]/.test(text) || text.length === 0)
    throw new ImapConfigError(
      `${setting} ${JSON.stringify(text)} cannot be written into Dovecot's configuration: no quotes, backslashes or line breaks`,
    );
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(text) ? text : `"${text}"`;
}

/** The settings the renderer needs, each named when missing or wrong. */
export function imapConfigProblems(input: DovecotConfigInput): string[] {
  const problems: string[] = [];
  if (input.tls.cert === undefined || input.tls.key === undefined)
    problems.push(
      "tls.cert and tls.key: IMAP and POP3 need a certificate (STARTTLS on imapPort, TLS on imapsPort and pop3sPort)",
    );
  const { imapPort, imapsPort, pop3sPort } = input.imap;
  if (imapPort === 0 && imapsPort === 0 && pop3sPort === 0)
    problems.push("imap.imapPort, imap.imapsPort, imap.pop3sPort: all are 0, nothing would listen");
  const ports = [imapPort, imapsPort, pop3sPort].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length)
    problems.push(`imap.imapPort, imap.imapsPort, imap.pop3sPort must differ (${ports.join(", ")})`);
  if (input.ldap.userFilter === undefined && !/^uid=\{uid\},/.test(input.ldap.userDnTemplate)) {
    problems.push(
      `ldap.userDnTemplate ${JSON.stringify(input.ldap.userDnTemplate)}: the IMAP login binds as uid=<login>,...; use a template starting uid={uid}, (or ldap.userFilter)`,
    );
  }
  if (
    input.ldap.userFilter !== undefined &&
    (input.ldap.bindDn === undefined) !== (input.ldap.bindPassword === undefined)
  ) {
    problems.push("ldap.bindDn and ldap.bindPassword go together");
  }
  return problems;
}

/** dovecot.conf: listeners, TLS, the login chain, the mbox layout and its locks, Sent/Drafts/Trash. */
export function renderDovecotConf(input: DovecotConfigInput): string {
  const problems = imapConfigProblems(input);
  if (problems.length > 0) throw new ImapConfigError(`the IMAP settings are not usable:\n  ${problems.join("\n  ")}`);
  const { imap } = input;
  const paths = imapPaths(imap.stateDir);
  const mailRoot = input.mailRoot.replace(/\/+$/, "");
  const protocols = [
    imap.imapPort !== 0 || imap.imapsPort !== 0 ? "imap" : "",
    imap.pop3sPort !== 0 ? "pop3" : "",
  ].filter(Boolean);
  // 127.0.0.1 and ::1, not all of 127/8: what local programs use; Dovecot also trusts a
  // connection whose two ends have the same address.
  const trusted = ["127.0.0.1", "::1", ...imap.trustedNetworks];
  return [
    "# Written by SEMail (services/imap/config.ts) from its settings; rewritten at each start.",
    `base_dir = ${value("imap.stateDir", paths.run)}`,
    `state_dir = ${value("imap.stateDir", paths.state)}`,
    `log_path = ${value("log path", input.logPath ?? "/dev/stderr")}`,
    `protocols = ${protocols.join(" ")}`,
    // Checked by the schema (config/sections/imap.ts): "*", "::" or an address, written bare.
    `listen = ${imap.listen.join(", ")}`,
    `default_internal_user = ${DOVECOT_INTERNAL_USER}`,
    `default_login_user = ${DOVECOT_LOGIN_USER}`,
    "",
    "# TLS: the listeners on imapsPort and pop3sPort speak it at once, imapPort after STARTTLS.",
    "ssl = yes",
    `ssl_cert = <${value("tls.cert", input.tls.cert!)}`,
    `ssl_key = <${value("tls.key", input.tls.key!)}`,
    "ssl_min_protocol = TLSv1.2",
    "ssl_prefer_server_ciphers = yes",
    "# LOGIN and AUTH PLAIN only over TLS, except from loopback and the users' network.",
    "# (Clients there may also name another address for the log with ID; they are users' own",
    "# containers, and nothing but logging and these checks reads that address.)",
    "disable_plaintext_auth = yes",
    `login_trusted_networks = ${trusted.map((n) => value("imap.trustedNetworks", n)).join(" ")}`,
    "",
    "# A login name is the LDAP uid or a live mailbox's address, folded to lower case as the",
    "# web form folds it; no character a DN or a filter treats specially.",
    `auth_username_chars = ${LOGIN_CHARS}`,
    "auth_username_format = %Lu",
    "auth_mechanisms = plain login",
    "auth_verbose = yes",
    "# A name with '@' must be a live mailbox's address in the users file, which names its owner",
    "# (user=<uid>, noauthenticate: it checks no password); any other is refused here, before",
    "# LDAP (alice@other must not become alice, as %n would make it).",
    "passdb {",
    "  driver = passwd-file",
    `  args = ${value("imap.stateDir", paths.users)}`,
    "  username_filter = *@*",
    "  result_success = continue",
    "  result_failure = return-fail",
    "  result_internalfail = return-fail",
    "}",
    "# The password: an LDAP bind as the user. Then the user must be in the users file (live",
    "# mailboxes of the users list); that lookup checks no password, the bind did.",
    "passdb {",
    "  driver = ldap",
    `  args = ${value("imap.stateDir", paths.ldapConfig)}`,
    "  result_success = continue-ok",
    "  result_failure = return-fail",
    "  result_internalfail = return-fail",
    "}",
    "passdb {",
    "  driver = passwd-file",
    `  args = ${value("imap.stateDir", paths.users)}`,
    "  result_success = return-ok",
    "  result_failure = return-fail",
    "  result_internalfail = return-fail",
    "}",
    "userdb {",
    "  driver = passwd-file",
    `  args = ${value("imap.stateDir", paths.users)}`,
    "}",
    "# Only the mailbox uids (config/mail-uid.ts); never root or a system account.",
    `first_valid_uid = ${FIRST_MAIL_UID}`,
    `first_valid_gid = ${FIRST_MAIL_UID}`,
    "",
    "# The user's own files, no copy: INBOX and the pair folders under mail/. Index and",
    "# control files in Dovecot's own directory (per user, owned by the mail uid).",
    `mail_location = mbox:${value("inbound.mailRoot", mailRoot)}/%u/mail:INBOX=${value("inbound.mailRoot", mailRoot)}/%u/INBOX:INDEX=${value("imap.stateDir", paths.index)}/%u:CONTROL=${value("imap.stateDir", paths.control)}/%u:UTF-8`,
    "# The inbound daemon appends under the dotlock only (mailservers/inbound/store/append/dotlock.ts), so",
    "# reads take it too: Dovecot never sees half of an append, nor a tail that crash recovery",
    "# cuts back. fcntl first, as Debian's mutt and Dovecot's own defaults take them.",
    "mbox_read_locks = fcntl dotlock",
    "mbox_write_locks = fcntl dotlock",
    "mbox_lock_timeout = 2 mins",
    "mbox_dotlock_change_timeout = 2 mins",
    "",
    "namespace inbox {",
    "  inbox = yes",
    "  separator = /",
    "  mailbox Sent {",
    "    special_use = \\Sent",
    "    auto = subscribe",
    "  }",
    "  mailbox Drafts {",
    "    special_use = \\Drafts",
    "    auto = subscribe",
    "  }",
    "  mailbox Trash {",
    "    special_use = \\Trash",
    "    auto = subscribe",
    "  }",
    "  mailbox Junk {",
    "    special_use = \\Junk",
    "    auto = create",
    "  }",
    "}",
    "",
    "service imap-login {",
    "  inet_listener imap {",
    `    port = ${imap.imapPort}`,
    "  }",
    "  inet_listener imaps {",
    `    port = ${imap.imapsPort}`,
    "    ssl = yes",
    "  }",
    "}",
    "service pop3-login {",
    "  inet_listener pop3 {",
    "    port = 0",
    "  }",
    "  inet_listener pop3s {",
    `    port = ${imap.pop3sPort}`,
    "    ssl = yes",
    "  }",
    "}",
    "# New pair folders are subscribed at the next login (Roundcube and Thunderbird show only",
    "# subscribed folders): postlogin.sh adds the ones never offered before.",
    "service imap {",
    "  executable = imap imap-postlogin",
    "}",
    "service imap-postlogin {",
    "  # -d: the script runs as the user's mail uid (script-login starts as root to switch).",
    `  executable = script-login -d ${value("imap.stateDir", paths.postLogin)}`,
    "  user = root",
    "  unix_listener imap-postlogin {",
    "  }",
    "}",
    "protocol imap {",
    `  mail_max_userip_connections = ${imap.maxUserConnections}`,
    "}",
    "protocol pop3 {",
    `  mail_max_userip_connections = ${imap.maxUserConnections}`,
    "}",
    "",
  ].join("\n");
}

/** The passdb's LDAP file (args of `driver = ldap`): a bind as uid=<login>,ou=people,<base>, or a search with userFilter. */
export function renderLdapConf(ldap: LdapSettings): string {
  const lines = [
    "# Written by SEMail (services/imap/config.ts).",
    `uris = ${ldap.url.replace(/\/$/, "")}`,
    "auth_bind = yes",
    `base = ${ldap.baseDn}`,
    "ldap_version = 3",
  ];
  if (ldap.userFilter === undefined) {
    // %u is the login after auth_username_chars: no character a DN would treat specially.
    lines.push(`auth_bind_userdn = ${ldap.userDnTemplate.replace("{uid}", "%u")}`);
  } else {
    lines.push(`pass_filter = ${ldap.userFilter.replaceAll("{uid}", "%u")}`, "pass_attrs = =user=%{ldap:uid}");
    if (ldap.bindDn !== undefined) lines.push(`dn = ${ldap.bindDn}`, `dnpass = ${ldap.bindPassword ?? ""}`);
  }
  if (ldap.startTls) lines.push("tls = yes");
  if (ldap.caFile !== undefined) lines.push(`tls_ca_cert_file = ${ldap.caFile}`);
  for (const line of lines)
    if (/[\r\n]/.test(line.slice(0, -1)))
      throw new ImapConfigError(`an ldap setting has a line break: ${JSON.stringify(line)}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Runs before each IMAP session, as the user (script-login): subscribes the user to the
 * folders under mail/ never offered before, then starts imap. A folder the user
 * unsubscribes stays so (it is in .semail-offered). The subscriptions file is replaced
 * under Dovecot's own lock (.subscriptions.lock), in its format (`V\t2`, a blank line,
 * a name a line). Anything going wrong only skips the subscribing: the login goes on.
 */
export function renderPostLogin(controlRoot: string): string {
  if (/['\n]/.test(controlRoot))
    throw new ImapConfigError(`imap.stateDir ${JSON.stringify(controlRoot)} cannot hold ' or a line break`);
  return `#!/bin/sh
# Written by SEMail (services/imap/config.ts): subscribe new pair folders, then run imap.
subscribe() {
  control='${controlRoot}'/"$USER"
  [ -n "$USER" ] && [ -d "$HOME/mail" ] && [ -d "$control" ] || return 0
  sub=$control/.subscriptions offered=$control/.semail-offered
  [ -f "$offered" ] || : >"$offered" || return 0
  new=$(cd "$HOME/mail" && for f in *; do [ -f "$f" ] && printf '%s\\n' "$f"; done | grep -v '\\.lock$' | grep -vxF -f "$offered")
  [ -n "$new" ] || return 0
  tries=0
  until (set -C; : >"$sub.lock") 2>/dev/null; do
    tries=$((tries + 1)); [ "$tries" -lt 30 ] || return 0; sleep 0.1
  done
  tmp=$sub.semail.$$
  if [ -s "$sub" ]; then
    { cat "$sub"; printf '%s\\n' "$new" | grep -vxF -f "$sub"; true; } >"$tmp"
  else
    printf 'V\\t2\\n\\n%s\\n' "$new" >"$tmp"
  fi && mv -f "$tmp" "$sub" && printf '%s\\n' "$new" >>"$offered"
  rm -f "$tmp" "$sub.lock"
}
subscribe >/dev/null 2>&1
exec "$@"
`;
}
