// Owners add and remove aliases of their mailbox on the form, against a real slapd: each
// alias checked as the users list checks an id, on the mailbox's own domain, one address one
// mailbox's, each change applied; nobody touches another owner's aliases.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { loadUsersList } from "../../config/users-file.ts";
import { MAX_ALIASES } from "../../config/users-list.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import type { Applier } from "../../config/applier.ts";
import { Client, LIST_OPTIONS, loggedInClient, startForm, type RunningForm } from "./helpers.ts";

const PASSWORDS = new Map(TEST_USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };
const { directory } = testDirectoryForFile();

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);
const alert = (text: string) =>
  /role="alert">([^<]*)</.exec(text)?.[1]?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))) ?? "";
const list = (form: RunningForm) => loadUsersList(form.usersFile, LIST_OPTIONS);

/** An applier that records alice's aliases as each apply is handed them. */
function aliasRecorder(): Applier & { readonly runs: string[][] } {
  const runs: string[][] = [];
  return {
    name: "aliases",
    runs,
    async apply({ list: applied }) {
      runs.push([...(applied.byOwner("alice")?.aliases ?? [])]);
    },
  };
}

/** alice with alice@alice.semail.test and bob with bob@bob.semail.test, both logged in. */
async function twoOwners(form: RunningForm): Promise<{ alice: Client; bob: Client }> {
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  assert.equal(
    (await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" })).status,
    303,
  );
  assert.equal((await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" })).status, 303);
  return { alice, bob };
}

test("an owner adds aliases, sees them as full addresses, mail to them reaches the mailbox, and removes one; each change is applied", async (t) => {
  const applier = aliasRecorder();
  const form = await startForm(t, { directory, applier, web: LOOSE });
  const { alice } = await twoOwners(form);

  const added = await alice.post("/mailbox/aliases", { alias: "  Shop " });
  assert.equal(added.status, 303, alert(added.text));
  assert.equal(added.location, "/?alias-added#aliases");
  // The full address is accepted too, when it is on the mailbox's own domain.
  assert.equal((await alice.post("/mailbox/aliases", { alias: "news@Alice.semail.test" })).status, 303);
  const written = await list(form);
  assert.deepEqual(written.byOwner("alice")?.aliases, ["shop@alice.semail.test", "news@alice.semail.test"]);
  assert.equal(written.byDeliveryAddress("shop+spring@alice.semail.test")?.mailbox.owner, "alice");
  await form.runner.idle();
  assert.deepEqual(
    applier.runs.at(-1),
    ["shop@alice.semail.test", "news@alice.semail.test"],
    "the additions were applied",
  );

  const page = (await alice.get("/?alias-added")).text;
  assert.match(page, /<span class="address">shop@alice\.semail\.test<\/span>/);
  assert.match(page, /<span class="address">news@alice\.semail\.test<\/span>/);
  assert.match(page, /The alias is added/);

  const removed = await alice.post("/mailbox/aliases/remove", { alias: "shop@alice.semail.test" });
  assert.equal(removed.status, 303);
  assert.equal(removed.location, "/?alias-removed#aliases");
  assert.deepEqual((await list(form)).byOwner("alice")?.aliases, ["news@alice.semail.test"]);
  const again = await alice.post("/mailbox/aliases/remove", { alias: "shop@alice.semail.test" });
  assert.equal(again.status, 404);
  assert.match(alert(again.text), /There is no alias shop@alice\.semail\.test/);
  await form.runner.idle();
  assert.deepEqual(applier.runs.at(-1), ["news@alice.semail.test"], "the removal was applied");
  assert.equal((await list(form)).byDeliveryAddress("shop@alice.semail.test"), undefined);
});

test("bad, reserved, taken and one-too-many aliases are refused with the users list's words, and change nothing", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const { alice, bob } = await twoOwners(form);
  assert.equal((await bob.post("/mailbox/aliases", { alias: "builder" })).status, 303);
  const before = await readFile(form.usersFile, "utf8");

  const cases: Array<[string, number, RegExp]> = [
    ["", 400, /^Choose an alias/],
    ["Bob!", 400, /^"Bob!" is not a valid alias: use a-z, 0-9, '\.', '-'/],
    ["-shop", 400, /is not a valid alias/],
    ["a..b", 400, /is not a valid alias/],
    ["postmaster", 409, /^"postmaster" is a reserved role name .*: choose another alias\.$/],
    ["shop@bob.semail.test", 400, /on your mailbox's own domain, alice\.semail\.test/],
    ["alice", 409, /alice@alice\.semail\.test is already an address of your mailbox/],
  ];
  for (const [text, status, reason] of cases) {
    const reply = await alice.post("/mailbox/aliases", { alias: text });
    assert.equal(reply.status, status, text);
    assert.match(alert(reply.text), reason, text);
  }
  // The refused alias is shown again in the field, escaped.
  const shown = await alice.post("/mailbox/aliases", { alias: '"><b>x' });
  assert.equal(shown.status, 400);
  assert.match(shown.text, /id="alias" name="alias" value="&#34;&#62;&#60;b&#62;x"/);
  assert.doesNotMatch(shown.text, /<b>x/);
  assert.equal(await readFile(form.usersFile, "utf8"), before, "nothing changed");

  // Another mailbox's address or alias, on a domain both could name: make the domains meet.
  await form.store.update((current) =>
    current.entries.map((m) => ({
      owner: m.owner,
      address: m.owner === "bob" ? "bob@shared.semail.test" : "alice@shared.semail.test",
      ...(m.owner === "bob" ? { aliases: ["builder"] } : {}),
    })),
  );
  for (const taken of ["bob", "builder"]) {
    const reply = await alice.post("/mailbox/aliases", { alias: taken });
    assert.equal(reply.status, 409, taken);
    assert.equal(alert(reply.text), `The address ${taken}@shared.semail.test is already taken.`);
  }

  await form.store.update((current) =>
    current.entries.map((m) => ({
      owner: m.owner,
      address: m.address,
      aliases: m.owner === "alice" ? Array.from({ length: MAX_ALIASES }, (_, i) => `a${i}`) : ["builder"],
    })),
  );
  const full = await alice.post("/mailbox/aliases", { alias: "one-more" });
  assert.equal(full.status, 409);
  assert.match(alert(full.text), new RegExp(`You have ${MAX_ALIASES} aliases`));
});

test("an alias that is another mailbox's sub-address is taken: it would take that mailbox's mail", async (t) => {
  const form = await startForm(t, {
    directory,
    web: LOOSE,
    usersListOptions: { ...LIST_OPTIONS, subaddressSeparator: "-" },
  });
  await form.store.update(() => [
    { owner: "alice", address: "alice@shared.semail.test" },
    { owner: "bob", address: "bob@shared.semail.test" },
  ]);
  const alice = await loggedIn(form, "alice");
  const reply = await alice.post("/mailbox/aliases", { alias: "bob-news" });
  assert.equal(reply.status, 409);
  assert.equal(alert(reply.text), "The address bob-news@shared.semail.test is already taken.");
  // Her own sub-address as an alias takes nobody's mail.
  assert.equal((await alice.post("/mailbox/aliases", { alias: "alice-shop" })).status, 303);
});

test("nobody touches another owner's aliases, without a mailbox there are none, and a forged form changes nothing", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const admin = await loggedIn(form, "admin");
  const noMailbox = await admin.post("/mailbox/aliases", { alias: "boss" });
  assert.equal(noMailbox.status, 404);
  const { alice, bob } = await twoOwners(form);
  assert.equal((await alice.post("/mailbox/aliases", { alias: "shop" })).status, 303);
  const before = await readFile(form.usersFile, "utf8");

  const stolen = await bob.post("/mailbox/aliases/remove", { alias: "shop@alice.semail.test" });
  assert.equal(stolen.status, 404, "bob cannot remove alice's alias");
  // Whatever owner a form names, the change is the session's own mailbox's.
  const named = await bob.post("/mailbox/aliases", { alias: "shop@alice.semail.test", owner: "alice" });
  assert.equal(named.status, 400, "bob cannot add an alias on alice's domain");
  assert.equal((await alice.post("/mailbox/aliases", { alias: "more", _csrf: bob.csrf })).status, 403);
  assert.equal(
    (await alice.post("/mailbox/aliases/remove", { alias: "shop@alice.semail.test", _csrf: "" })).status,
    403,
  );
  const outsider = new Client(form.url);
  assert.equal((await outsider.post("/mailbox/aliases", { alias: "x" })).status, 403, "no session, no change");
  assert.equal(await readFile(form.usersFile, "utf8"), before, "nothing changed");
});

test("a claim on an unproven domain gets no alias until it is live", async (t) => {
  const form = await startForm(t, {
    directory,
    web: LOOSE,
    proofLookup: async () => ({ state: "absent" }),
    mxCheck: async () => ({ state: "none" }),
  });
  const alice = await loggedIn(form, "alice");
  await alice.post("/mailbox", { localPart: "alice", kind: "external", externalDomain: "example.org" });
  assert.ok((await list(form)).byOwner("alice")?.pendingProof, "the claim is pending");
  const page = (await alice.get("/")).text;
  assert.match(page, /Aliases can be added once your domain is proven/);
  assert.doesNotMatch(page, /action="\/mailbox\/aliases"/);
  const refused = await alice.post("/mailbox/aliases", { alias: "ceo" });
  assert.equal(refused.status, 409);
  assert.match(alert(refused.text), /example\.org is not proven yet/);
  assert.deepEqual((await list(form)).byOwner("alice")?.aliases, []);
});
