// The forward account's policy without sockets: forwards only to the users list's live,
// unexpired forward targets from our SRS senders; bounces only to our SRS addresses, turned back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseUsersList } from "../../../config/users-list.ts";
import { forwardSecretOf } from "../../../mailservers/core/forward-secret.ts";
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
const srs = createSrs({ key: forwardSecretOf("k".repeat(40)).srsKey, domain: "semail.test", now: () => NOW });
const policy = createForwardPolicy({ users: () => users, srs, now: () => NOW });
const refused = (fn: () => unknown) =>
  assert.throws(fn, (e: SmtpError) => e instanceof SmtpError && e.responseCode === 550);

test("a forward goes from an SRS sender of ours to a live, unexpired mailbox's target only", () => {
  const sender = srs.forward("alice@origin.example");
  policy.checkSender(sender);
  policy.checkRecipient("A.Out@ELSEWHERE.example");
  assert.deepEqual(policy.recipientsOf(sender, ["A.Out@elsewhere.example"]), ["A.Out@elsewhere.example"]);
  refused(() => policy.checkSender("alice@origin.example"));
  refused(() => policy.checkRecipient("anyone@elsewhere.example"));
  refused(() => policy.checkRecipient("b@elsewhere.example"));
  refused(() => policy.checkRecipient("c@elsewhere.example"));
  refused(() => policy.recipientsOf(sender, [srs.forward("x@y.example")]));
});

test("a bounce goes from <> to our SRS addresses only, sent on to the senders they stand for", () => {
  policy.checkSender("");
  const back = srs.forward("alice@origin.example");
  policy.checkRecipient(back);
  assert.deepEqual(policy.recipientsOf("", [back]), ["alice@origin.example"]);
  refused(() => policy.recipientsOf("", ["A.Out@elsewhere.example"]));
  refused(() => policy.checkRecipient(back.replace(/^SRS0=[A-Z2-7]{8}/, "SRS0=AAAAAAAA")));
});
