// The users list's `forward` and `expires`: read, refused with problems named by entry, written back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ownerExpiryProblem, parseExpiry } from "../../config/mailbox-expiry.ts";
import { parseUsersList, serializeUsersList, UsersListError } from "../../config/users-list.ts";

const options = { managedDomain: "semail.email", defaultSize: 5 * 1024 ** 3, minSize: 64 * 1024 ** 2 };

const problems = (yaml: string): readonly string[] => {
  try {
    parseUsersList(yaml, options);
  } catch (err) {
    if (err instanceof UsersListError) return err.problems;
    throw err;
  }
  assert.fail("the list was accepted");
};

test("a forward and an expiry are read, and written back to the same entry", () => {
  const list = parseUsersList(
    `mailboxes:
  - {owner: sow, address: s@sow.semail.email, forward: {to: Me.Elsewhere@Other.Example, keepCopy: true}, expires: 2027-01-31}
  - {owner: ada, address: ada@semail.email, forward: {to: ada@other.example}, expires: "2027-02-01T18:30:00+01:00"}
`,
    options,
  );
  const [sow, ada] = list.mailboxes;
  assert.deepEqual(sow!.forward, { to: "Me.Elsewhere@other.example", keepCopy: true });
  assert.deepEqual(sow!.expires, { at: Date.parse("2027-01-31T00:00:00Z"), written: "2027-01-31" });
  assert.deepEqual(ada!.forward, { to: "ada@other.example", keepCopy: false });
  assert.equal(ada!.expires!.at, Date.parse("2027-02-01T17:30:00Z"));
  const again = parseUsersList(serializeUsersList(list.mailboxes), options);
  assert.deepEqual(again.mailboxes, list.mailboxes);
});

test("a forward to a domain this server serves is refused: that is an alias", () => {
  const found = problems(`mailboxes:
  - {owner: sow, address: s@sow.example, forward: {to: x@semail.email}}
  - {owner: ada, address: ada@semail.email, forward: {to: y@deep.sub.semail.email}}
  - {owner: bob, address: bob@bob.example, forward: {to: s@SOW.example}}
`);
  assert.equal(found.length, 3);
  assert.match(found[0]!, /^mailboxes\[0\]\.forward\.to "x@semail\.email" is on a domain this server serves/);
  assert.match(found[1]!, /^mailboxes\[1\]\.forward\.to /);
  assert.match(found[2]!, /^mailboxes\[2\]\.forward\.to "s@sow\.example"/);
});

test("a bad forward or expiry is named by its entry", () => {
  const found = problems(`mailboxes:
  - {owner: a, address: a@semail.email, forward: x@y.example}
  - {owner: b, address: b@semail.email, forward: {to: '"x@y"@z.example'}}
  - {owner: c, address: c@semail.email, forward: {to: x@y.example, keepCopy: "yes", copy: true}}
  - {owner: d, address: d@semail.email, forward: {keepCopy: true}}
  - {owner: e, address: e@semail.email, expires: 2027-02-30}
  - {owner: f, address: f@semail.email, expires: "2027-01-31T10:00:00"}
  - {owner: g, address: g@semail.email, expires: 1700000000}
`);
  assert.deepEqual(
    found.map((p) => p.split(" ")[0]),
    [
      "mailboxes[0].forward",
      "mailboxes[1].forward.to",
      "mailboxes[2].forward",
      "mailboxes[2].forward.keepCopy",
      "mailboxes[3].forward.to",
      "mailboxes[4].expires",
      "mailboxes[5].expires",
      "mailboxes[6].expires",
    ],
  );
  assert.match(found[1]!, /not a plain dot-atom/);
  assert.match(found[5]!, /is not an ISO date: write 2027-01-31/);
});

test("an owner's own expiry: in the future, within web.maxExpiry", () => {
  const now = Date.parse("2027-01-01T12:00:00Z");
  const max = 30 * 86_400_000;
  assert.equal(ownerExpiryProblem("2027-01-20", now, max), undefined);
  assert.match(ownerExpiryProblem("2027-01-01", now, max)!, /not in the future/);
  assert.match(ownerExpiryProblem("2027-03-01", now, max)!, /further away than the 30 days allowed/);
  assert.match(ownerExpiryProblem("soon", now, max)!, /is not a date/);
  assert.equal(parseExpiry("2028-02-29"), Date.parse("2028-02-29T00:00:00Z"));
  assert.equal(parseExpiry("2027-02-29"), undefined);
});
