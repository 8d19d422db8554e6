// An owner who makes a mailbox again after deleting one is asked what to do with the mail
// kept from it: bring it back into the new mailbox, or start empty (the kept mail is then
// set aside, renamed, never deleted). Nothing is chosen for them: the form has no default.
import type { Applier, KeptMail, KeptMailChoice } from "../config/applier.ts";
import { html, type Html } from "./html.ts";
import { humanSize } from "./pages.ts";
import { Refusal } from "./refusal.ts";

/** The form field's value as a choice, or undefined when none (or another value) was sent. */
export function keptMailChoice(value: string): KeptMailChoice | undefined {
  return value === "restore" || value === "set-aside" ? value : undefined;
}

/** What the applier keeps of `owner`'s deleted mailbox; undefined when nothing, or when it cannot tell. */
export async function keptMailOf(applier: Pick<Applier, "keptMail">, owner: string): Promise<KeptMail | undefined> {
  return applier.keptMail?.(owner);
}

/**
 * Before the new mailbox `address` is listed: refuses a create without a choice when mail
 * is kept, and carries the choice out (an Error from the applier becomes a 409 naming it;
 * one that cannot tell what is kept, a 503).
 */
export async function settleKeptMail(
  applier: Pick<Applier, "keptMail" | "decideKeptMail">,
  owner: string,
  address: string,
  sent: string,
): Promise<void> {
  // Not knowing is not "nothing kept": creating now could hand the old mail over unasked.
  const kept = await keptMailOf(applier, owner).catch((err: Error) => {
    throw new Refusal(
      503,
      `Whether mail of your earlier mailbox is kept could not be checked (${err.message}); nothing was changed: try again in a moment.`,
    );
  });
  if (kept === undefined || applier.decideKeptMail === undefined) return;
  const choice = keptMailChoice(sent);
  if (choice === undefined)
    throw new Refusal(
      400,
      "The mail of your earlier mailbox is kept: choose whether to bring it back into the new mailbox or to start empty.",
    );
  try {
    await applier.decideKeptMail(owner, address, choice);
  } catch (err) {
    throw new Refusal(409, `Your choice for the kept mail could not be carried out: ${(err as Error).message}.`);
  }
}

export function keptMailFieldset(kept: KeptMail, chosen: string | undefined): Html {
  const what =
    kept.address !== undefined
      ? html`Your earlier mailbox, <span class="address">${kept.address}</span>, was deleted`
      : html`Your earlier mailbox was deleted`;
  const size = kept.bytes !== undefined ? ` (a filesystem of ${humanSize(kept.bytes)})` : "";
  return html`<fieldset id="kept-mail">
<legend>The mail of your earlier mailbox</legend>
<p>${what}; its mail is kept${size}. What should the new mailbox hold?</p>
<div class="choice">
<input type="radio" id="kept-restore" name="keptMail" value="restore" required ${chosen === "restore" ? html`checked` : ""}>
<label class="inline" for="kept-restore">Bring back the kept mail (and the files of your container's home)</label>
</div>
<div class="choice">
<input type="radio" id="kept-set-aside" name="keptMail" value="set-aside" ${chosen === "set-aside" ? html`checked` : ""}>
<label class="inline" for="kept-set-aside">Start empty: the kept mail is set aside (renamed, not deleted); an administrator can still give it back</label>
</div>
${kept.inUse ? html`<p class="hint">Your earlier mailbox is still being taken down: starting empty can be chosen once that is done, in a minute.</p>` : ""}
</fieldset>`;
}
