// The part of the mailbox page that says how to use the mailbox: where to send from and
// with which login, where the mail is read, a webmail when there is one, and what the
// size means. Every address and port comes from the deployment (mail-access.ts).
import type { MailboxEntry } from "../../config/users-list.ts";
import { html, type Html } from "./html.ts";
import type { HostPort, Reading } from "./mail-access.ts";

/** What the page shows, resolved for one owner. */
export interface MailAccessView {
  readonly submission: HostPort;
  readonly webmailUrl?: string;
  readonly reading?: Reading;
}

export function mailboxUseSection(m: MailboxEntry, access: MailAccessView): Html {
  const { host, port } = access.submission;
  return html`<h2>How to send and read mail</h2>
<dl id="mailbox-use">
<dt>Sending</dt>
<dd>Outgoing server (SMTP submission) <code>${host}</code>, port <code>${port}</code>. Log in as <code>${m.owner}</code> with your directory password; you send as <span class="address">${m.address}</span>.</dd>
<dt>Reading</dt>
<dd>${reading(m, access.reading)}</dd>
${access.webmailUrl ? html`<dt>Webmail</dt>
<dd><a href="${access.webmailUrl}">${access.webmailUrl}</a></dd>` : ""}
</dl>`;
}

function reading(m: MailboxEntry, how: Reading | undefined): Html {
  if (how === undefined) {
    return html`Your mail is kept in a container of your own. The SSH command that opens it is shown here once the system has made the container; until then your administrator can give it to you.`;
  }
  if (how.kind === "files") {
    return html`Your mail is in mbox files on this machine: <code class="address">${how.inbox}</code>, and one folder per correspondent in <code>mail/</code> beside it. For example: <code>mutt -f ${how.inbox}</code>`;
  }
  // The jump host and the container let in only the keys listed for the mailbox. The
  // readers and msmtp are those of the user image (provisioning/images/user, its motd).
  const keys = m.sshKeys.length === 0
    ? html` <strong>Your mailbox has no SSH key yet:</strong> add your public key (for example <code>~/.ssh/id_ed25519.pub</code>) <a href="#ssh-keys">below</a>, since only listed keys get in.`
    : "";
  return html`A shell in your own container, with this command:
<pre><code>${how.command}</code></pre>
There <code>neomutt</code> (or <code>mutt</code>) reads <code>/mail/INBOX</code> and your folders in <code>/mail/mail/</code>, and sends through the server above once your password is in <code>~/.semail-password</code>.${keys}`;
}

/** What the size is, who sets it, and what happens when the mailbox is full (inbound's quota check). */
export function sizeExplained(m: MailboxEntry): Html {
  return html`<p class="hint" id="size-explained">The size is your mailbox's quota: your mail is kept on a filesystem of its own, this big${m.defaultSize ? ", the default size for new mailboxes" : ""}. The administrator sets it; ask them for more room.
When it is full, new mail is not accepted: senders' servers are told <code>452 4.2.2</code> (mailbox full) and try again for a while, usually a few days, before they give up; a message bigger than the room left goes back to its sender (<code>552 5.2.2</code>). Deleting or moving mail makes room.</p>`;
}
