// The part of the mailbox page where owners set or clear a forward: their mail sent on to an
// address elsewhere, with or without a copy kept here.
import type { MailboxEntry } from "../config/users-list.ts";
import { html, type Html } from "./html.ts";

export function forwardSection(m: MailboxEntry, csrf: Html): Html {
  const current = m.forward
    ? html`<p id="forward-state">Your mail is forwarded to <strong class="address">${m.forward.to}</strong>${m.forward.keepCopy ? ", and a copy is kept here" : ", and not kept here"}.</p>
<form method="post" action="/mailbox/forward/remove">
${csrf}
<button type="submit">Stop forwarding</button>
</form>`
    : html`<p id="forward-state">Your mail is not forwarded.</p>`;
  return html`<h2 id="forward">Forward</h2>
<p>Send the mail of ${m.address} on to an address elsewhere (not on this server: for that, an alias).</p>
${current}
<form method="post" action="/mailbox/forward">
${csrf}
<label for="forward-to">Forward to</label>
<input type="email" id="forward-to" name="to" value="${m.forward?.to ?? ""}" required maxlength="254" autocomplete="off" autocapitalize="none" spellcheck="false">
<label><input type="checkbox" name="keepCopy" value="yes"${m.forward?.keepCopy === false ? "" : html` checked`}> Keep a copy here too</label>
<button type="submit">${m.forward ? "Change the forward" : "Forward my mail"}</button>
</form>`;
}
