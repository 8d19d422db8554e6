// The forward account's policy without sockets: forwards only to the users list's live,
// unexpired forward targets from our SRS senders; bounces only to our SRS addresses, turned
// back; a list's post only from its signed bounce address to its current remote members.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MailingList } from "../../../config/mailing-lists.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { forwardSecretOf } from "../../../mailservers/core/forward-secret.ts";
import { createListBounceAddresses } from "../../../mailservers/core/list-bounce-address.ts";
import { createSrs } from "../../../mailservers/core/srs.ts";
import { SmtpError } from "../../../mailservers/core/types.ts";
import { createForwardPolicy } from "../../../mailservers/outbound/forward-policy.ts";

const NOW = Date.parse("2027-03-01T00:00:00Z");
const users = parseUsersList(
  `mailboxes:
  - {owner: a, address: a@semail.test, forward: {to: A.Out@elsewhere.example}}
  - {owner: b, address: b@semail.test, forward: {to: b@elsewhere.example}, expires: 2027-02-01}
  - {owner: c, address: c@c.example, forward: {to: c@elsewhere.example}, pendingProof: 0123456789abcdef}
`,
  { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 },
);
const secret = forwardSecretOf("k".repeat(40));
const srs = createSrs({ key: secret.srsKey, domain: "semail.test", now: () => NOW });
const bounces = createListBounceAddresses({ key: secret.listBounceKey, now: () => NOW });
const team: MailingList = {
  dn: "cn=team,ou=groups,dc=semail,dc=test",
  name: "team",
  address: "team@semail.test",
  members: [{ uid: "a" }, { uid: "carol", mail: "carol@remote.example" }],
  owners: [{ uid: "a" }],
  rule: "members",
  moderators: [],
};
const other: MailingList = {
  ...team,
  dn: "cn=other",
  address: "other@semail.test",
  members: [{ mail: "x@far.example" }],
};
let directoryLists: readonly MailingList[] = [team, other];
const policy = createForwardPolicy({
  users: () => users,
  srs,
  now: () => NOW,
  lists: { bounces, read: async () => directoryLists, managedDomain: "semail.test" },
});
const refused = (fn: () => Promise<unknown>) =>
  assert.rejects(fn, (e: SmtpError) => e instanceof SmtpError && e.responseCode === 550);

test("a forward goes from an SRS sender of ours to a live, unexpired mailbox's target only", async () => {
  const sender = srs.forward("alice@origin.example");
  await policy.checkSender(sender);
  await policy.checkRecipient("A.Out@ELSEWHERE.example");
  assert.deepEqual(await policy.recipientsOf(sender, ["A.Out@elsewhere.example"]), ["A.Out@elsewhere.example"]);
  await refused(() => policy.checkSender("alice@origin.example"));
  await refused(() => policy.checkRecipient("anyone@elsewhere.example"));
  await refused(() => policy.checkRecipient("b@elsewhere.example"));
  await refused(() => policy.checkRecipient("c@elsewhere.example"));
  await refused(() => policy.recipientsOf(sender, [srs.forward("x@y.example")]));
});

test("a bounce goes from <> to our SRS addresses only, sent on to the senders they stand for", async () => {
  await policy.checkSender("");
  const back = srs.forward("alice@origin.example");
  await policy.checkRecipient(back);
  assert.deepEqual(await policy.recipientsOf("", [back]), ["alice@origin.example"]);
  await refused(() => policy.recipientsOf("", ["A.Out@elsewhere.example"]));
  await refused(() => policy.checkRecipient(back.replace(/^SRS0=[A-Z2-7]{8}/, "SRS0=AAAAAAAA")));
});

test("a list's post goes from its signed bounce address to that list's current remote members only", async () => {
  const sender = bounces.make("team@semail.test");
  assert.match(sender, /^team\+bounces=[A-Z2-7]{8}=[A-Z2-7]{2}@semail\.test$/);
  await policy.checkSender(sender);
  await policy.checkRecipient("Carol@remote.example");
  assert.deepEqual(await policy.recipientsOf(sender, ["carol@remote.example"]), ["carol@remote.example"]);
  // Another list's member, a local member, a stranger: not this list's remote members.
  await refused(() => policy.recipientsOf(sender, ["x@far.example"]));
  await refused(() => policy.recipientsOf(sender, ["a@semail.test"]));
  await refused(() => policy.checkRecipient("stranger@remote.example"));
  // Unsigned, forged, or naming a list the directory no longer has.
  await refused(() => policy.checkSender("team+bounces@semail.test"));
  await refused(() => policy.checkSender(sender.replace(/=[A-Z2-7]{8}=/, "=AAAAAAAA=")));
  await refused(() => policy.checkSender(bounces.make("nolist@semail.test")));
  directoryLists = [other];
  try {
    await refused(() => policy.checkSender(sender));
    await refused(() => policy.recipientsOf(sender, ["carol@remote.example"]));
  } finally {
    directoryLists = [team, other];
  }
});
