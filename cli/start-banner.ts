// The text `semail start` prints when it is up: every part's address, the demo logins and
// the first steps, with the users' containers when there are some.
import { join } from "node:path";
import type { MailClientServers } from "../config/mail-clients.ts";
import type { Settings } from "../config/settings.ts";
import type { MailboxEntry } from "../config/users-list.ts";
import type { ListenSpec } from "../lib/listen-spec.ts";
import type { RunningImap } from "../services/imap/dovecot.ts";
import { DEMO_ADMIN, DEMO_USERS, LOCAL_DOMAIN } from "../deploy/local/defaults.ts";
import type { UserSpace } from "../deploy/local/user-space.ts";
import type { RunningWebmail } from "../services/webmail/roundcube.ts";

/** The banner's part on the users' containers: how to reach one, or why there are none. */
export async function containersText(
  space: UserSpace | { readonly reason: string },
  owners: readonly string[],
): Promise<string> {
  if ("reason" in space) {
    return `Users' containers: none (${space.reason}).
  Mail is read from the mbox files on this machine instead (below).`;
  }
  const lines = await Promise.all(
    owners.map(
      async (owner) => `     ${(await space.containers.sshCommand(owner)) ?? `(${owner}'s container is not up yet)`}`,
    ),
  );
  return `Users' containers (one per mailbox, on the internal Docker network ${space.network.name}, ${space.network.subnet}):
  Add your SSH public key on the web form, then open your container through the jump sshd
  (127.0.0.1:${space.jumpPort}, set up as on the VM) with the line the form shows, e.g.
     ssh -J semail-jump@127.0.0.1:${space.jumpPort} OWNER@ADDRESS
${
  lines.length > 0
    ? `  The mailboxes there now:
${lines.join("\n")}
`
    : ""
}  In it, neomutt reads /mail/INBOX; msmtp sends once ~/.semail-password holds your password;
  sudo apt-get installs from Debian through the users' apt proxy (the one way out).
  Docker: ${space.docker.own ? `local mode's own dockerd (${space.docker.host}), stopped with SEMail` : `the engine at ${space.docker.host}`}`;
}

/** The banner's line on inbound's submission for mail programs: the ports it offers AUTH on (after TLS). */
function mailProgramsText(servers: MailClientServers, dataDir: string): string {
  const { submission, submissions } = servers.ports;
  // A semail.yaml written before local mode had these listeners names none.
  if (submission === 0 && submissions === 0)
    return `not offered (inbound.submission.listen names no listener; delete ${join(dataDir, "semail.yaml")} to regenerate it)`;
  const offered = (
    [
      [submission, "STARTTLS"],
      [submissions, "TLS"],
    ] as const
  ).filter(([port]) => port !== 0);
  const ports = offered.map(([port, how], i) => `${i === 0 ? servers.host : ""}:${port} (${how})`).join(", ");
  return `${ports}   (as 587 and 465: AUTH after TLS with your mailbox address or LDAP uid, handed to the outbound daemon; certificate ${join(dataDir, "tls")})`;
}

/** What the banner shows, beyond the settings: the parts as they started. */
export interface BannerParts {
  readonly passwords: Readonly<Record<string, string>>;
  readonly dataDir: string;
  readonly storage: string;
  /** containersText's answer. */
  readonly containers: string;
  /** The inbound daemon's MX listener (no AUTH). */
  readonly inbound: ListenSpec;
  readonly imap: RunningImap | undefined;
  readonly webmail: RunningWebmail | undefined;
  readonly mailClients: MailClientServers;
  /** The live mailboxes of the users list now: the first steps skip what is made already. */
  readonly mailboxes?: ReadonlyArray<Pick<MailboxEntry, "owner" | "address">>;
}

/**
 * Step 1 of a first mail: create the demo users' mailboxes, only those not made yet (a
 * restart finds them made), and the addresses the next steps use: the ones made, or the
 * ones step 1 asks for. Without the list, step 1 says "if not made yet".
 */
export function firstMailStep(
  users: readonly string[],
  mailboxes: BannerParts["mailboxes"],
): { step: string; addresses: string[] } {
  const made = new Map((mailboxes ?? []).map((m) => [m.owner, m.address]));
  const addresses = users.map((u) => made.get(u) ?? `${u}@${u}.${LOCAL_DOMAIN}`);
  const missing = users.filter((u) => !made.has(u));
  const create = (u: string) => `log in as ${u} and create mailbox "${u}" on the subdomain "${u}"`;
  if (mailboxes !== undefined && missing.length === 0)
    return {
      step: `1. The mailboxes ${addresses.join(" and ")} are made already (the web form shows them).`,
      addresses,
    };
  const [first, ...others] = mailboxes === undefined ? users : missing;
  const rest = others.map((u) => `; do the same as ${u}`).join("");
  const already = users
    .filter((u) => made.has(u))
    .map((u) => ` (${u}'s, ${made.get(u)}, is made already)`)
    .join("");
  return {
    step: `1. Open the web form, ${create(first!)}${rest}${mailboxes === undefined ? " (if not made yet)" : already}.`,
    addresses,
  };
}

/** What `semail start` prints once everything answers: where each part is, the demo logins, a first mail. */
export function banner(settings: Settings, parts: BannerParts): string {
  const { passwords, dataDir, storage, containers, inbound, imap, webmail, mailClients } = parts;
  const web = settings.web.listen;
  const submission = settings.outbound.listen[0]!;
  const [a, b] = DEMO_USERS;
  const first = firstMailStep([a, b], parts.mailboxes);
  const [fromAddress, toAddress] = first.addresses;
  return `
SEMail is running on this machine (data in ${dataDir}, logs in ${join(dataDir, "semail.log")}).

  web form        http://${web.host}:${web.port}/
  inbound SMTP    ${inbound.host}:${inbound.port}        (MX of *.${LOCAL_DOMAIN}; no AUTH)
  submission      ${submission.host}:${submission.port}        (the outbound daemon; AUTH with your LDAP login)
  submission TLS  ${mailProgramsText(mailClients, dataDir)}
  IMAP / POP3     ${imap ? `${imap.host}:${imap.ports.imap} (STARTTLS), :${imap.ports.imaps} (TLS), POP3S :${imap.ports.pop3s}   (login: your mailbox address or LDAP uid; certificate ${join(dataDir, "tls")})` : "not running (Dovecot needs root)"}
  webmail         ${webmail ? `${webmail.url}   (Roundcube; log in with your mailbox address or LDAP uid)` : "not running (it reads through Dovecot, which needs root)"}
  autoconfig      http://${web.host}:${web.port}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${a}@${a}.${LOCAL_DOMAIN}   (what Thunderbird reads: these ports, your address as login)
  DNS (named)     ${settings.outbound.delivery.resolver}      (zone ${LOCAL_DOMAIN})
  LDAP (slapd)    ${settings.ldap.url}    (base ${settings.ldap.baseDn})
  mailboxes       ${storage}

Demo logins (LDAP):
${[...DEMO_USERS, DEMO_ADMIN].map((uid) => `  ${uid.padEnd(6)} ${passwords[uid]}${uid === DEMO_ADMIN ? "   (administrator)" : ""}`).join("\n")}

First mail:
  ${first.step}
  2. Send:
     swaks --server ${submission.host}:${submission.port} --auth-user ${a} --auth-password '${passwords[a]}' \\
           --from ${fromAddress} --to ${toAddress} --header "Subject: hello"
  3. Read it: mutt -f ${join(settings.inbound.mailRoot, b, "INBOX")}
     (or python3 -c "import mailbox; print([m['subject'] for m in mailbox.mbox('${join(settings.inbound.mailRoot, b, "INBOX")}')])")

${containers}

A domain of your own (the ownership proof):
  Create the mailbox on "My own domain" instead, e.g. home.example. It stays pending, and both
  daemons refuse it, until its DNS carries the TXT record the form shows. Local mode writes
  ${join(dataDir, "zones", "home.example.zone")} to stand in for that DNS: uncomment its TXT
  and MX lines, then press "Check now" on the form.

What is wrong, each finding with its fix: npx semail report --config ${join(dataDir, "semail.yaml")}

Ctrl-C stops everything; the next start reuses the data.
`;
}
