// The part of the mailbox page where owners list, add and remove their aliases: more
// addresses on the mailbox's own domain, whose mail lands in it and which they may send as.
import { MAX_ALIASES, type MailboxEntry } from "../config/users-list.ts";
import { html, type Html } from "./html.ts";

export function aliasesSection(m: MailboxEntry, csrf: Html, typed = ""): Html {
  const rows = m.aliases.map(
    (alias) => html`<li><span class="address">${alias}</span>
<form method="post" action="/mailbox/aliases/remove" class="inline">
${csrf}
<input type="hidden" name="alias" value="${alias}">
<button type="submit" class="link" aria-label="Remove the alias ${alias}">Remove</button>
</form></li>`,
  );
  // An alias on an unproven domain would claim it before its proof: the form waits for it.
  const adding =
    m.pendingProof !== undefined
      ? html`<p class="hint">Aliases can be added once your domain is proven.</p>`
      : html`<form method="post" action="/mailbox/aliases">
${csrf}
<label for="alias">New alias (before the @)</label>
<input type="text" id="alias" name="alias" value="${typed}" required maxlength="64" autocomplete="off" autocapitalize="none" spellcheck="false" aria-describedby="alias-suffix">
<span class="suffix" id="alias-suffix">@${m.domain}</span>
<button type="submit">Add this alias</button>
</form>`;
  return html`<h2 id="aliases">Aliases</h2>
<p>More addresses of this mailbox, on ${m.domain}: mail to each lands in your mailbox, and you may send as each of them. At most ${MAX_ALIASES}.</p>
${m.aliases.length === 0 ? html`<p>No alias yet.</p>` : html`<ul class="keys" id="alias-list">${rows}</ul>`}
${adding}`;
}
