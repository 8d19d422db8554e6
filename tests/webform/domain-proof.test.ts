// Claiming a mailbox on an external domain through the form, against a real slapd and a
// real named: the claim stays pending (not applied, not served) until the DNS carries the
// claim's own TXT token; another user's claim is not proven by it; reserved names refused.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { loadUsersList } from "../../config/users-file.ts";
import type { RunningNamed } from "../../deploy/local/named.ts";
import { proofRecord } from "../../config/proof-record.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import { type Client, LIST_OPTIONS, fakeApplier, startForm, type RunningForm, loggedInClient } from "./helpers.ts";

const USERS = [
  ...TEST_USERS,
  { uid: "carol", password: "carol-Secret4" },
  { uid: "postmaster", password: "pm-Secret5" },
];
const PASSWORDS = new Map(USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };

const { directory } = testDirectoryForFile(USERS);
let named: RunningNamed;
const zone = (records: readonly string[] = []) => [
  { name: "carol.example", text: zoneText("carol.example", ["@ IN MX 10 mx.semail.test.", ...records]) },
];

before(async () => {
  named = await startTestNamed(zone());
});
after(async () => {
  await named?.stop();
});

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);

const alert = (text: string) => /role="alert">([^<]*)</.exec(text)?.[1] ?? "";
const decodeEntities = (text: string) => text.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

test("an external domain is pending until its own TXT token is published, then it goes live", async (t) => {
  let now = Date.now();
  const applier = fakeApplier();
  const form = await startForm(t, {
    directory,
    applier,
    clock: () => now,
    web: { ...LOOSE, dnsServers: [named.server] },
  });
  const carol = await loggedIn(form, "carol");
  const created = await carol.post("/mailbox", {
    localPart: "Carol",
    kind: "external",
    externalDomain: "carol.example",
  });
  assert.equal(created.status, 303, alert(created.text));
  assert.equal(created.location, "/?claimed");

  const list = await loadUsersList(form.usersFile, LIST_OPTIONS);
  const token = list.byOwner("carol")?.pendingProof;
  assert.match(token ?? "", /^[0-9a-f]{32}$/);
  assert.equal(list.byAddress("carol@carol.example"), undefined, "not live");
  await form.runner.idle();
  assert.ok(
    applier.runs.every((run) => !run.includes("carol@carol.example")),
    "a pending claim is never applied",
  );

  // The page shows the exact record and what the server found.
  await form.proofs.tick();
  let page = decodeEntities((await carol.get("/?claimed")).text);
  assert.match(page, /not live yet: publish the TXT record below/);
  assert.ok(
    page.includes(`<code><span class="line">${proofRecord("carol.example", token!)}</span></code>`),
    "the exact record",
  );
  assert.match(
    page,
    /There is no TXT record at _semail\.carol\.example yet\. Last checked .* \(try 1 of 12\)\. Next automatic check: /,
  );

  // Bob claims the same domain: pending claims do not lock others out, and each has its own token.
  const bob = await loggedIn(form, "bob");
  assert.equal(
    (await bob.post("/mailbox", { localPart: "bob", kind: "external", externalDomain: "carol.example" })).status,
    303,
  );
  const bobToken = (await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.pendingProof;
  assert.ok(bobToken && bobToken !== token);

  // Carol publishes her record; "Check now" finds it.
  await named.reload(zone([`_semail IN TXT "semail-proof=${token}"`]));
  now += 11_000;
  const checked = await carol.post("/mailbox/proof");
  assert.equal(checked.status, 303, alert(checked.text));
  assert.equal(checked.location, "/?proven");
  const live = await loadUsersList(form.usersFile, LIST_OPTIONS);
  assert.equal(live.byAddress("carol@carol.example")?.owner, "carol");
  await form.runner.idle();
  assert.ok(applier.runs.at(-1)!.includes("carol@carol.example"), "the live mailbox is applied");
  page = decodeEntities((await carol.get("/?proven")).text);
  assert.match(page, /The domain is proven: your mailbox is live/);
  assert.doesNotMatch(page, /Check now/);

  // Carol's record proves nothing for Bob, and a domain live for Carol is not Bob's.
  now += 11_000;
  await bob.post("/mailbox/proof");
  page = decodeEntities((await bob.get("/")).text);
  assert.match(page, /_semail\.carol\.example has TXT records, but none with this mailbox's token: "semail-proof=/);
  await named.reload(zone([`_semail IN TXT "semail-proof=${token}"`, `_semail IN TXT "semail-proof=${bobToken}"`]));
  now += 11_000;
  await bob.post("/mailbox/proof");
  page = decodeEntities((await bob.get("/")).text);
  assert.match(
    page,
    /The record was found, but the mailbox cannot go live: The domain carol\.example went live for another mailbox first/,
  );
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.pendingProof, bobToken);

  // A new claim on a domain that is live for someone else is refused at once.
  const admin = await loggedIn(form, "admin");
  const third = await admin.post("/mailbox", { localPart: "admin", kind: "external", externalDomain: "carol.example" });
  assert.equal(third.status, 409);
  assert.match(decodeEntities(alert(third.text)), /The domain carol\.example is already used by another mailbox/);

  // The administrators' table shows the claim that is still pending, marked as such.
  const table = decodeEntities((await admin.get("/admin")).text);
  assert.match(table, /bob@carol\.example <span class="hint">\(pending: domain not proven\)<\/span>/);
  assert.doesNotMatch(table, /carol@carol\.example <span/);
});

test("after Check now proves a claim, the page shows the MX as the DNS has it now, not the refusal cached before its zone was served", async (t) => {
  const dns = await startTestNamed([{ name: "other.example", text: zoneText("other.example", []) }]);
  t.after(() => dns.stop());
  // The clock stands still: nothing cached expires by itself.
  const form = await startForm(t, { directory, clock: () => 1_000_000, web: { ...LOOSE, dnsServers: [dns.server] } });
  const dave = await loggedIn(form, "bob");
  assert.equal(
    (await dave.post("/mailbox", { localPart: "bob", kind: "external", externalDomain: "dave.example" })).status,
    303,
  );
  let page = decodeEntities((await dave.get("/?claimed")).text);
  assert.match(
    page,
    /The MX of dave\.example could not be checked right now \(EREFUSED\)/,
    "no zone for dave.example yet: named refuses",
  );
  const token = (await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.pendingProof;

  // The domain's owner publishes the proof and the MX; Check now sees both.
  await dns.reload([
    {
      name: "dave.example",
      text: zoneText("dave.example", ["@ IN MX 10 mx.semail.test.", `_semail IN TXT "semail-proof=${token}"`]),
    },
  ]);
  const checked = await dave.post("/mailbox/proof");
  assert.equal(checked.location, "/?proven", alert(checked.text));
  page = decodeEntities((await dave.get("/?proven")).text);
  assert.match(page, /Checked now: the MX of dave\.example points to us \(mx\.semail\.test\)\./);
  assert.doesNotMatch(page, /EREFUSED/);
});

test("Check now is rate-limited, and a user without a pending claim has nothing to check", async (t) => {
  const form = await startForm(t, { directory, web: { ...LOOSE, dnsServers: [named.server] } });
  const alice = await loggedIn(form, "alice");
  const none = await alice.post("/mailbox/proof");
  assert.equal(none.status, 409);
  assert.equal(alert(none.text), "Your mailbox is not waiting for a proof.");
  await alice.post("/mailbox", { localPart: "alice", kind: "external", externalDomain: "carol.example" });
  await form.proofs.tick();
  assert.equal((await alice.post("/mailbox/proof")).status, 303, "an automatic try does not hold the button back");
  const soon = await alice.post("/mailbox/proof");
  assert.equal(soon.status, 429);
  assert.match(alert(soon.text), /wait \d+ s before checking again/);
});

test("reserved role names are refused as mailbox ids and as owners, whatever the case", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const before = await readFile(form.usersFile, "utf8").catch(() => "");
  const alice = await loggedIn(form, "alice");
  for (const id of ["postmaster", "Abuse", "NOREPLY", "mailer-daemon", "hostmaster", "webmaster", "root"]) {
    const reply = await alice.post("/mailbox", { localPart: id, kind: "subdomain", subdomain: "alice" });
    assert.equal(reply.status, 409, id);
    assert.match(decodeEntities(alert(reply.text)), new RegExp(`"${id}" is a reserved role name`), id);
  }
  const postmaster = await loggedIn(form, "postmaster");
  const reply = await postmaster.post("/mailbox", { localPart: "pm", kind: "subdomain", subdomain: "pm" });
  assert.equal(reply.status, 403);
  assert.match(alert(reply.text), /The login postmaster is a reserved role name and cannot own a mailbox/);
  assert.equal(await readFile(form.usersFile, "utf8").catch(() => ""), before, "nothing was written");
});
