// The part of the mailbox page where owners set or clear the day their mailbox stops
// receiving (its `expires`), at most web.maxExpiry away.
import type { MailboxEntry } from "../config/users-list.ts";
import { html, type Html } from "./html.ts";

export function expirySection(m: MailboxEntry, csrf: Html, maxDays: number): Html {
  const current = m.expires
    ? html`<p id="expiry-state">Your mailbox receives no mail from <strong>${m.expires.written}</strong> on (00:00 UTC for a date).</p>
<form method="post" action="/mailbox/expiry">
${csrf}
<input type="hidden" name="expires" value="">
<button type="submit">Never expire</button>
</form>`
    : html`<p id="expiry-state">Your mailbox does not expire.</p>`;
  return html`<h2 id="expiry">Expiry</h2>
<p>From this day on, mail to every address of the mailbox is refused; the mail already here stays. At most ${maxDays} days from today.</p>
${current}
<form method="post" action="/mailbox/expiry">
${csrf}
<label for="expires">Expires on</label>
<input type="date" id="expires" name="expires" value="${m.expires?.written.slice(0, 10) ?? ""}" required>
<button type="submit">Set the expiry</button>
</form>`;
}
