// The keys part of the mailbox page says, before the owner adds or removes a key, what the
// change does: it takes effect at the next login and restarts nothing (the container, its
// open sessions, the home and the installed programs stay; deploy/local/containers.ts and
// components/mailbox.ts rewrite the keys file in place).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseUsersList } from "../../config/users-list.ts";
import { html } from "../../webform/html.ts";
import { sshKeysSection } from "../../webform/keys-page.ts";
import { LIST_OPTIONS } from "./helpers.ts";

test("the keys section says a key change restarts nothing, before the form is sent", () => {
  const list = parseUsersList("mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n", LIST_OPTIONS);
  const page = String(sshKeysSection(list.byOwner("alice")!, html``)).replace(/\s+/g, " ");
  const text = page.slice(0, page.indexOf("<form"));
  assert.match(text, /does not restart your container/);
  assert.match(text, /open sessions go on/);
  assert.match(text, /your home \(<code>~<\/code>, kept on your mail filesystem\) and the programs you installed stay/);
  assert.match(text, /takes effect at the next login/);
});
