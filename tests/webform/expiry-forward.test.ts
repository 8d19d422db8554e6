// Expiry and forward through the form, against a real slapd: an administrator sets or clears
// any mailbox's expiry (a plain user gets 403); an owner sets or clears their own expiry within
// web.maxExpiry and their forward to an address elsewhere. Each is a users list change, applied.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { test, type TestContext } from "node:test";
import { loadUsersList } from "../../config/users-file.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import { type Client, LIST_OPTIONS, fakeApplier, loggedInClient, startForm, type RunningForm } from "./helpers.ts";

const PASSWORDS = new Map(TEST_USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 }, maxExpiry: "30d" };
const { directory } = testDirectoryForFile();
/** The form's "now": the owner's expiry is judged against it. */
const NOW = Date.parse("2027-01-10T12:00:00Z");

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);
const alert = (text: string) =>
  /role="alert">([^<]*)</.exec(text)?.[1]?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))) ?? "";
const list = (form: RunningForm) => loadUsersList(form.usersFile, LIST_OPTIONS);

/** alice owns alice@alice.semail.test, bob bob@bob.semail.test. */
async function twoMailboxes(t: TestContext) {
  const applier = fakeApplier();
  const form = await startForm(t, { directory, applier, web: LOOSE, clock: () => NOW });
  await writeFile(
    form.usersFile,
    "mailboxes:\n  - owner: alice\n    address: alice@alice.semail.test\n  - owner: bob\n    address: bob@bob.semail.test\n",
  );
  return { form, applier };
}

test("an administrator sets and clears a mailbox's expiry; a plain user gets 403 and the list stays", async (t) => {
  const { form, applier } = await twoMailboxes(t);
  const bob = await loggedIn(form, "bob");
  const before = await readFile(form.usersFile, "utf8");
  const refused = await bob.post("/admin/expiry", { owner: "alice", expires: "2027-02-01" });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /Administrators only/);
  assert.equal(await readFile(form.usersFile, "utf8"), before);

  const admin = await loggedIn(form, "admin");
  assert.match((await admin.get("/admin")).text, /id="expires-alice" name="expires" value=""/);
  // An administrator is not bound by web.maxExpiry.
  const set = await admin.post("/admin/expiry", { owner: "alice", expires: "2028-03-01" });
  assert.equal(set.status, 303, alert(set.text));
  assert.equal(set.location, "/admin?expiry");
  assert.equal((await list(form)).byOwner("alice")?.expires?.written, "2028-03-01");
  assert.equal((await list(form)).byOwner("bob")?.expires, undefined);
  assert.match((await admin.get("/admin")).text, /id="expires-alice" name="expires" value="2028-03-01"/);
  await form.runner.idle();
  assert.ok(applier.runs.length >= 1, "the change was applied");

  const bad = await admin.post("/admin/expiry", { owner: "alice", expires: "2027-02-30" });
  assert.equal(bad.status, 400);
  assert.match(alert(bad.text), /is not a date/);
  assert.equal((await admin.post("/admin/expiry", { owner: "nobody", expires: "2028-03-01" })).status, 404);

  assert.equal((await admin.post("/admin/expiry", { owner: "alice", expires: "" })).status, 303);
  assert.equal((await list(form)).byOwner("alice")?.expires, undefined);
  assert.doesNotMatch(await readFile(form.usersFile, "utf8"), /expires/);
});

test("an owner sets their expiry within web.maxExpiry and clears it", async (t) => {
  const { form } = await twoMailboxes(t);
  const alice = await loggedIn(form, "alice");
  const page = (await alice.get("/")).text;
  assert.match(page, /Your mailbox does not expire/);
  assert.match(page, /At most 30 days from today/);

  for (const [expires, message] of [
    ["2027-03-01", /further away than the 30 days/],
    ["2027-01-10", /not in the future/],
    ["soon", /is not a date/],
  ] as const) {
    const reply = await alice.post("/mailbox/expiry", { expires });
    assert.equal(reply.status, 400, expires);
    assert.match(alert(reply.text), message);
  }
  assert.equal((await list(form)).byOwner("alice")?.expires, undefined);

  const set = await alice.post("/mailbox/expiry", { expires: "2027-02-01" });
  assert.equal(set.status, 303, alert(set.text));
  assert.equal(set.location, "/?expiry-set#expiry");
  assert.equal((await list(form)).byOwner("alice")?.expires?.written, "2027-02-01");
  assert.equal((await list(form)).byOwner("bob")?.expires, undefined, "only the owner's own mailbox");
  assert.match((await alice.get("/")).text, /no mail from <strong>2027-02-01<\/strong> on/);

  assert.equal((await alice.post("/mailbox/expiry", { expires: "" })).status, 303);
  assert.equal((await list(form)).byOwner("alice")?.expires, undefined);
});

test("an owner forwards their mail elsewhere, is refused an address this server serves, and stops forwarding", async (t) => {
  const { form } = await twoMailboxes(t);
  const alice = await loggedIn(form, "alice");
  assert.match((await alice.get("/")).text, /Your mail is not forwarded/);

  for (const [to, status, message] of [
    ["me@semail.test", 409, /a domain this server serves/],
    ["someone@bob.semail.test", 409, /a domain this server serves/],
    ["me@sub.alice.semail.test", 409, /a domain this server serves/],
    ['"a@b"@elsewhere.example', 400, /plain dot-atom/],
    ["nobody", 400, /local@domain/],
  ] as const) {
    const reply = await alice.post("/mailbox/forward", { to, keepCopy: "yes" });
    assert.equal(reply.status, status, `${to}: ${alert(reply.text)}`);
    assert.match(alert(reply.text), message);
  }
  assert.equal((await list(form)).byOwner("alice")?.forward, undefined);

  const set = await alice.post("/mailbox/forward", { to: "Me@Elsewhere.Example", keepCopy: "yes" });
  assert.equal(set.status, 303, alert(set.text));
  assert.equal(set.location, "/?forward-set#forward");
  assert.deepEqual((await list(form)).byOwner("alice")?.forward, { to: "Me@elsewhere.example", keepCopy: true });
  // Unticked, the box sends nothing: no copy kept.
  assert.equal((await alice.post("/mailbox/forward", { to: "me@elsewhere.example" })).status, 303);
  assert.deepEqual((await list(form)).byOwner("alice")?.forward, { to: "me@elsewhere.example", keepCopy: false });
  assert.match(
    (await alice.get("/")).text,
    /forwarded to <strong class="address">me@elsewhere\.example<\/strong>, and not kept here/,
  );
  assert.equal((await list(form)).byOwner("bob")?.forward, undefined);

  assert.equal((await alice.post("/mailbox/forward/remove")).status, 303);
  assert.equal((await list(form)).byOwner("alice")?.forward, undefined);
  assert.equal((await alice.post("/mailbox/forward/remove")).status, 404, "nothing left to remove");
  // Without the page's CSRF token the change is refused.
  assert.equal((await alice.post("/mailbox/forward", { to: "me@elsewhere.example", _csrf: "forged" })).status, 403);
  assert.equal((await list(form)).byOwner("alice")?.forward, undefined);
});
