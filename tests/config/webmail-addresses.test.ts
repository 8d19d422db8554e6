// The webmail's address file (config/webmail-addresses.ts): each live mailbox's address and
// its owner, as the users list normalises them; a pending claim is left out.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSettings, usersListOptions } from "../../config/settings.ts";
import { parseUsersList } from "../../config/users-list.ts";
import { renderAddressFile } from "../../config/webmail-addresses.ts";

test("the address file maps each live mailbox to its owner; a pending one is left out", () => {
  const settings = parseSettings({}, "test");
  const list = parseUsersList(
    "mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n  - {owner: carol, address: carol@carol.example, pendingProof: 0123456789abcdef0123}\n  - {owner: bob, address: Bob@Bob.semail.test}\n",
    usersListOptions(settings),
  );
  const lines = renderAddressFile(list)
    .split("\n")
    .filter((l) => l && !l.startsWith("#"));
  const address = (owner: string) => list.mailboxes.find((m) => m.owner === owner)!.address;
  assert.deepEqual(lines.sort(), [`${address("alice")} alice`, `${address("bob")} bob`]);
  assert.equal(address("bob"), "bob@bob.semail.test", "addresses as the users list normalises them");
});
