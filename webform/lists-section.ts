// The mailing lists part of the administrators' page: each list (address, members, posting
// rule) with its forms, and the form that creates one. Without write credentials
// (ldap.bindDn) it only shows the lists and says why there are no buttons.
import type { ListPerson, MailingList } from "../config/mailing-lists.ts";
import { html, type Html } from "./html.ts";
import { FORM_RULES } from "./list-rules.ts";

/** The lists as the page shows them: read, or why they could not be. */
export type ListsView =
  | { readonly state: "ready"; readonly lists: readonly MailingList[]; readonly writable: boolean }
  | { readonly state: "failed"; readonly reason: string };

const person = (p: ListPerson) => p.uid ?? p.mail ?? "?";

function memberItem(list: MailingList, p: ListPerson, csrf: Html, writable: boolean): Html {
  const who = person(p);
  return html`<li><span class="member">${who}</span>${
    writable && p.uid !== undefined
      ? html` <form method="post" action="/admin/lists/members/remove" class="inline">
${csrf}
<input type="hidden" name="list" value="${list.address}">
<input type="hidden" name="uid" value="${p.uid}">
<button type="submit" class="link" aria-label="Remove ${who} from ${list.address}">Remove</button>
</form>`
      : ""
  }</li>`;
}

function listBlock(list: MailingList, csrf: Html, writable: boolean): Html {
  const id = list.address.replace(/[^a-z0-9]/g, "-");
  return html`<article class="list" aria-labelledby="list-${id}">
<h3 id="list-${id}"><span class="address">${list.address}</span> (${list.name})</h3>
<p>Who may post: <strong class="rule">${list.rule}</strong>. ${list.members.length} member${list.members.length === 1 ? "" : "s"}:</p>
<ul class="members">${list.members.map((p) => memberItem(list, p, csrf, writable))}</ul>
${
  writable
    ? html`<form method="post" action="/admin/lists/members">
${csrf}
<input type="hidden" name="list" value="${list.address}">
<label for="add-${id}">Add a member to ${list.address} (login name)</label>
<input type="text" id="add-${id}" name="uid" required maxlength="64" autocomplete="off" autocapitalize="none" spellcheck="false">
<button type="submit">Add</button>
</form>
<form method="post" action="/admin/lists/delete">
${csrf}
<input type="hidden" name="list" value="${list.address}">
<button type="submit" class="danger" aria-label="Delete the list ${list.address}">Delete this list</button>
</form>`
    : ""
}
</article>`;
}

function createForm(csrf: Html, managedDomain: string): Html {
  return html`<form method="post" action="/admin/lists" id="new-list">
${csrf}
<h3>New list</h3>
<label for="list-name">List name</label>
<input type="text" id="list-name" name="name" required maxlength="64" autocomplete="off">
<label for="list-address">Address (before the @)</label>
<input type="text" id="list-address" name="localPart" required maxlength="64" autocomplete="off" autocapitalize="none" spellcheck="false" aria-describedby="list-suffix">
<span class="suffix" id="list-suffix">@${managedDomain}</span>
<label for="list-members">Members (login names, separated by commas)</label>
<input type="text" id="list-members" name="members" required maxlength="4000" autocomplete="off" autocapitalize="none" spellcheck="false">
<label for="list-rule">Who may post</label>
<select id="list-rule" name="rule">${FORM_RULES.map((r) => html`<option value="${r}">${r}</option>`)}</select>
<button type="submit">Create the list</button>
</form>`;
}

export function listsSection(view: ListsView, csrf: Html, managedDomain: string): Html {
  const body =
    view.state === "failed"
      ? html`<p id="lists-state">The lists could not be read: ${view.reason}</p>`
      : html`${view.lists.length === 0 ? html`<p>There are no lists yet.</p>` : view.lists.map((l) => listBlock(l, csrf, view.writable))}
${
  view.writable
    ? createForm(csrf, managedDomain)
    : html`<p id="lists-state" class="hint">The form has no credentials to write to the directory (set <code>ldap.bindDn</code> and <code>ldap.bindPassword</code> to an account that may write the groups branch), so lists can only be seen here.</p>`
}`;
  return html`<h2 id="lists">Mailing lists</h2>
<section aria-labelledby="lists">
<p class="hint">A list is a group in the directory: mail to its address goes to each member. Changes are written to the directory as <code>ldap.bindDn</code> and reach the inbound daemon at its next refresh of the lists.</p>
${body}
</section>`;
}
