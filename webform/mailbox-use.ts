// The part of the mailbox page that says how to use the mailbox: where to send from and
// with which login, where the mail is read, a webmail when there is one, and what the
// size means. Every address and port comes from the deployment (mail-access.ts).
import type { MailClientServers } from "../config/mail-clients.ts";
import type { MailboxEntry } from "../config/users-list.ts";
import { webmailLoginUrl } from "../services/webmail/config.ts";
import { codeLines, html, type Html } from "./html.ts";
import type { HostPort, Reading } from "./mail-access.ts";

/** What the page shows, resolved for one owner. */
export interface MailAccessView {
  readonly submission: HostPort;
  readonly webmailUrl?: string;
  readonly reading?: Reading;
  /** The mail host as mail programs reach it: shown with the address as the login. */
  readonly mailClients?: MailClientServers;
}

export function mailboxUseSection(m: MailboxEntry, access: MailAccessView): Html {
  const { host, port } = access.submission;
  return html`<h2>How to send and read mail</h2>
<dl id="mailbox-use">
<dt>Sending</dt>
<dd>Outgoing server (SMTP submission) <code>${host}</code>, port <code>${port}</code>. Log in as <code>${m.owner}</code> with your directory password; you send as <span class="address">${m.address}</span>${m.aliases.length > 0 ? " or any of your aliases below" : ""}.</dd>
<dt>Reading</dt>
<dd>${reading(m, access.reading)}</dd>
${access.mailClients ? mailPrograms(m, access.mailClients) : ""}
${access.webmailUrl ? webmail(m, access.webmailUrl) : ""}
</dl>`;
}

/**
 * Roundcube's login page has no setting for a line of text, so the hint is here: the link
 * fills in the address as the login name (Roundcube takes `_user` from the query).
 */
function webmail(m: MailboxEntry, url: string): Html {
  return html`<dt>Webmail</dt>
<dd><a href="${webmailLoginUrl(url, m.address)}">${url}</a>. Log in there with your address <span class="address">${m.address}</span> (this link fills it in) and your directory password.</dd>`;
}

/** "993 (SSL/TLS) or 143 (STARTTLS)": the ports offered (not 0), TLS from the first byte first. */
function portChoices(choices: ReadonlyArray<readonly [port: number, how: string]>): string {
  return choices
    .filter(([port]) => port !== 0)
    .map(([port, how]) => `${port} (${how})`)
    .join(" or ");
}

/** Thunderbird and phones: the address is all they need (autoconfig, SRV); the settings for setting one up by hand. */
function mailPrograms(m: MailboxEntry, { host, ports }: MailClientServers): Html {
  const imap = portChoices([
    [ports.imaps, "SSL/TLS"],
    [ports.imap, "STARTTLS"],
  ]);
  const pop3 = portChoices([[ports.pop3s, "SSL/TLS"]]);
  const smtp = portChoices([
    [ports.submissions, "SSL/TLS"],
    [ports.submission, "STARTTLS"],
  ]);
  const servers = [
    imap && html`incoming IMAP <code>${host}</code> port ${imap}`,
    pop3 && html`or POP3 port ${pop3}`,
    smtp && html`outgoing SMTP <code>${host}</code> port ${smtp}`,
  ].filter((part) => part !== "");
  return html`<dt>Mail programs</dt>
<dd>Thunderbird and most phones set themselves up: give them your address <span class="address">${m.address}</span> and your directory password. To set one up by hand: ${servers.map((part, i) => html`${i === 0 ? "" : "; "}${part}`)}; the user name is your address.</dd>`;
}

function reading(m: MailboxEntry, how: Reading | undefined): Html {
  if (how === undefined) {
    return html`Your mail is kept in a container of your own. The SSH command that opens it is shown here once the system has made the container; until then your administrator can give it to you.`;
  }
  if (how.kind === "files") {
    return html`Your mail is in mbox files on this machine: <code class="address">${how.inbox}</code>, and one folder per correspondent in <code>mail/</code> beside it. For example: <code>mutt -f ${how.inbox}</code>`;
  }
  // The jump host and the container let in only the keys listed for the mailbox. The
  // readers and msmtp are those of the user image (assets/images/user, its motd).
  const keys =
    m.sshKeys.length === 0
      ? html` <strong>Your mailbox has no SSH key yet:</strong> add your public key (for example <code>~/.ssh/id_ed25519.pub</code>) <a href="#ssh-keys">below</a>, since only listed keys get in.`
      : "";
  return html`A shell in your own container, with this command:
${codeLines([how.command])}
There <code>neomutt</code> (or <code>mutt</code>) reads <code>/mail/INBOX</code> and your folders in <code>/mail/mail/</code>, and sends through the server above once your password is in <code>~/.semail-password</code>.${keys}`;
}

/** What the size is, who sets it, and what happens when the mailbox is full or a message too big (inbound's checks, store/room.ts). */
export function sizeExplained(m: MailboxEntry): Html {
  return html`<p class="hint" id="size-explained">The size is your mailbox's quota: your mail is kept on a filesystem of its own, this big${m.defaultSize ? ", the default size for new mailboxes" : ""}. The administrator sets it; ask them for more room.
When it is full, new mail is not accepted: senders' servers are told <code>452 4.2.2</code> (mailbox full) and try again for a while, usually a few days, before they give up. Each message is kept twice, in <code>INBOX</code> and in the folder of its sender, so the largest message the mailbox takes is a little under half the room left: a bigger one goes back to its sender at once (<code>552 5.2.2</code>). Deleting or moving mail makes room.</p>`;
}
