// Creating, viewing and deleting mailboxes through the form, against a real slapd and a
// real named: one mailbox per owner, taken addresses refused, external domains with their
// MX check, admin rights, 20 concurrent writers, CSRF, and a failing apply.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { loadUsersList } from "../../config/users-file.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import { Client, LIST_OPTIONS, fakeApplier, startForm, type RunningForm, loggedInClient } from "./helpers.ts";
import type { RunningNamed } from "../../deploy/local/named.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { until } from "../../testkit/until.ts";

const CROWD = Array.from({ length: 20 }, (_, i) => ({
  uid: `user${String(i + 1).padStart(2, "0")}`,
  password: `pw-${i + 1}-Secret`,
}));
const PASSWORDS = new Map([...TEST_USERS, ...CROWD].map((u) => [u.uid, u.password]));

const { directory } = testDirectoryForFile([...TEST_USERS, ...CROWD]);
let named: RunningNamed;

before(async () => {
  named = await startTestNamed([
    { name: "example.org", text: zoneText("example.org", ["@ IN MX 10 mx.semail.test."]) },
    {
      name: "elsewhere.org",
      text: zoneText("elsewhere.org", ["@ IN MX 10 mail.provider.net.", "@ IN MX 20 backup.provider.net."]),
    },
    { name: "nomx.org", text: zoneText("nomx.org", ["@ IN A 127.0.0.1"]) },
  ]);
});
after(async () => {
  await named?.stop();
});

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);

function alert(text: string): string {
  return /role="alert">([^<]*)</.exec(text)?.[1] ?? "";
}

async function addresses(form: RunningForm): Promise<string[]> {
  return (await loadUsersList(form.usersFile, LIST_OPTIONS)).mailboxes.map((m) => `${m.owner}:${m.address}`).sort();
}

const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };

test("a user creates a mailbox on a subdomain, sees it applied, then deletes it after a confirmation", async (t) => {
  const applier = fakeApplier();
  const form = await startForm(t, {
    directory,
    applier,
    web: LOOSE,
    usage: async (owner) => (owner === "alice" ? 300 * 1024 ** 2 : undefined),
  });
  const alice = await loggedIn(form, "alice");
  const created = await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "wonderland" });
  assert.equal(created.status, 303);
  assert.equal(created.location, "/?created");
  assert.deepEqual(await addresses(form), ["alice:alice@wonderland.semail.test"]);
  await form.runner.idle();
  assert.deepEqual(applier.runs.at(-1), ["alice@wonderland.semail.test"], "the apply saw the new list");
  assert.equal((await alice.status()).state, "done");

  const view = await alice.get("/?created");
  assert.match(view.text, /<strong>alice@wonderland\.semail\.test<\/strong>/);
  assert.match(view.text, /300 MiB of 1 GiB \(29 %\)/, "usage from the injected usage()");
  assert.match(view.text, /data-state="done"/);
  assert.match(view.text, /Mail for wonderland\.semail\.test is routed here automatically/);

  const confirm = await alice.get("/mailbox/delete");
  assert.equal(confirm.status, 200);
  assert.match(confirm.text, /mail already received is <strong>kept<\/strong> until an administrator removes it/);
  assert.deepEqual(
    await addresses(form),
    ["alice:alice@wonderland.semail.test"],
    "the confirmation page deletes nothing",
  );
  const deleted = await alice.post("/mailbox/delete", { owner: "alice" });
  assert.equal(deleted.status, 303);
  assert.deepEqual(await addresses(form), []);
  const after = await alice.get("/?deleted");
  assert.match(after.text, /kept until an administrator removes it/);
  assert.match(after.text, /Create your mailbox/);
  await form.runner.idle();
  assert.deepEqual(applier.runs.at(-1), []);
});

test("a second mailbox, a taken address or domain, a bad id and a reserved subdomain are refused", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  assert.equal(
    (await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "home" })).status,
    303,
  );
  const before = await readFile(form.usersFile, "utf8");

  const second = await alice.post("/mailbox", { localPart: "other", kind: "subdomain", subdomain: "other" });
  assert.equal(second.status, 409);
  assert.equal(alert(second.text), "You already have a mailbox (alice@home.semail.test); each person has one.");

  const taken = await bob.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "home" });
  assert.equal(taken.status, 409);
  assert.equal(alert(taken.text), "The address alice@home.semail.test is already taken.");
  assert.match(taken.text, /value="alice"/, "the form keeps what was typed");

  const domain = await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "home" });
  assert.equal(domain.status, 409);
  assert.match(alert(domain.text), /domain home\.semail\.test is already used by another mailbox/);

  const badId = await bob.post("/mailbox", { localPart: "Bob!", kind: "subdomain", subdomain: "bob" });
  assert.equal(badId.status, 400);
  assert.match(alert(badId.text), /&#34;Bob!&#34; is not a valid mailbox id: use a-z, 0-9/);

  const reserved = await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "mx" });
  assert.equal(reserved.status, 409);
  assert.match(alert(reserved.text), /reserved/);

  const badLabel = await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "a.b" });
  assert.equal(badLabel.status, 400);

  const managed = await bob.post("/mailbox", { localPart: "bob", kind: "external", externalDomain: "x.semail.test" });
  assert.equal(managed.status, 400);
  assert.match(alert(managed.text), /choose the subdomain option/);

  assert.equal(await readFile(form.usersFile, "utf8"), before, "refusals leave the list as it was");
});

test("an external domain shows the exact MX record and whether the DNS points to us", async (t) => {
  const form = await startForm(t, { directory, web: { ...LOOSE, dnsServers: [named.server] } });
  const cases = [
    ["alice", "example.org", /Checked now: the MX of example\.org points to us \(mx\.semail\.test\)\./],
    ["bob", "elsewhere.org", /does not point to us yet; it points to mail\.provider\.net, backup\.provider\.net\./],
    ["user01", "nomx.org", /nomx\.org has no MX record yet\./],
    ["user02", "absent.example.net", /could not be checked right now|has no MX record yet/],
  ] as const;
  for (const [uid, domain, expected] of cases) {
    const client = await loggedIn(form, uid);
    const created = await client.post("/mailbox", {
      localPart: uid,
      kind: "external",
      externalDomain: `${domain.toUpperCase()}.`,
    });
    assert.equal(created.status, 303, `${uid} creates on ${domain}: ${alert(created.text)}`);
    const view = await client.get("/");
    assert.ok(
      view.text.includes(`<code><span class="line">${domain}. IN MX 10 mx.semail.test.</span></code>`),
      `${domain}: record shown`,
    );
    // The optional records for mail programs, naming the same host.
    assert.match(view.text, /id="client-records">Optional: with these records too, mail programs/);
    assert.ok(view.text.includes(`_imaps._tcp.${domain}. IN SRV 0 1 993 mx.semail.test.`), `${domain}: SRV shown`);
    assert.ok(
      view.text.includes(`autoconfig.${domain}. IN CNAME autoconfig.semail.test.`),
      `${domain}: autoconfig shown`,
    );
    assert.match(view.text, expected);
  }
  const claims = (await loadUsersList(form.usersFile, LIST_OPTIONS)).pending
    .map((m) => `${m.owner}:${m.address}`)
    .sort();
  assert.deepEqual(
    claims,
    ["alice:alice@example.org", "bob:bob@elsewhere.org", "user01:user01@nomx.org", "user02:user02@absent.example.net"],
    "each waits for its DNS proof",
  );
});

test("administrators see every mailbox, change sizes and delete any; others may not", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" });

  assert.equal((await alice.get("/admin")).status, 403);
  const forged = await alice.post("/admin/delete", { owner: "bob" });
  assert.equal(forged.status, 403, "a plain user cannot delete another's mailbox");
  assert.equal((await alice.post("/admin/size", { owner: "alice", size: "50GiB" })).status, 403);
  // Deleting one's own mailbox never touches another's, whatever the form says.
  await alice.post("/mailbox/delete", { owner: "bob" });
  assert.deepEqual(await addresses(form), ["bob:bob@bob.semail.test"]);
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });

  const admin = await loggedIn(form, "admin");
  const home = await admin.get("/");
  assert.match(home.text, /href="\/admin">All mailboxes/);
  const list = await admin.get("/admin");
  assert.equal(list.status, 200);
  assert.match(list.text, /alice@alice\.semail\.test/);
  assert.match(list.text, /bob@bob\.semail\.test/);

  const resized = await admin.post("/admin/size", { owner: "bob", size: "2GiB" });
  assert.equal(resized.status, 303);
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.size, 2 * 1024 ** 3);
  const tiny = await admin.post("/admin/size", { owner: "bob", size: "1MiB" });
  assert.equal(tiny.status, 400);
  assert.equal(alert(tiny.text), "1MiB is below the minimum mailbox size 64MiB.");
  const nonsense = await admin.post("/admin/size", { owner: "bob", size: "lots" });
  assert.equal(nonsense.status, 400);
  assert.match(alert(nonsense.text), /is not a size: write e\.g\. 5GiB/);

  const confirm = await admin.get("/admin/delete?owner=bob");
  assert.match(confirm.text, /the mailbox of bob/);
  assert.equal((await admin.post("/admin/delete", { owner: "bob" })).status, 303);
  assert.deepEqual(await addresses(form), ["alice:alice@alice.semail.test"]);
  assert.equal((await admin.post("/admin/delete", { owner: "bob" })).status, 404);
});

test("20 concurrent writers keep every entry and a valid list", async (t) => {
  const form = await startForm(t, { directory, applier: fakeApplier({ delayMs: 20 }), web: LOOSE });
  const clients = await Promise.all(CROWD.map((u) => loggedIn(form, u.uid)));
  const replies = await Promise.all(
    clients.map((c, i) =>
      c.post("/mailbox", { localPart: CROWD[i]!.uid, kind: "subdomain", subdomain: `box${i + 1}` }),
    ),
  );
  assert.deepEqual(
    replies.map((r) => r.status),
    CROWD.map(() => 303),
  );
  assert.deepEqual(await addresses(form), CROWD.map((u, i) => `${u.uid}:${u.uid}@box${i + 1}.semail.test`).sort());

  // Half delete, half race for the same address: the list stays whole and each address has one owner.
  const mixed = await Promise.all(
    clients.map((c, i) =>
      i % 2 === 0
        ? c.post("/mailbox/delete", {})
        : c.post("/mailbox", { localPart: "extra", kind: "subdomain", subdomain: "shared" }),
    ),
  );
  assert.deepEqual(
    mixed.map((r) => r.status),
    CROWD.map((_, i) => (i % 2 === 0 ? 303 : 409)),
    "deletes succeed; a second mailbox is refused",
  );
  const list = await loadUsersList(form.usersFile, LIST_OPTIONS);
  assert.equal(list.mailboxes.length, 10);
  assert.deepEqual(
    list.mailboxes.map((m) => m.owner).sort(),
    CROWD.filter((_, i) => i % 2 === 1).map((u) => u.uid),
  );
  await form.runner.idle();
  assert.equal(form.runner.status().state, "done");
  assert.equal(form.runner.status().applied, form.runner.status().requested);
});

test("forms without the session's CSRF token are refused and change nothing", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  const admin = await loggedIn(form, "admin");
  await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  const before = await readFile(form.usersFile, "utf8");
  const attempts = [
    await alice.post("/mailbox/delete", { _csrf: "" }),
    await alice.post("/mailbox/delete", { _csrf: admin.csrf }),
    await admin.post("/admin/delete", { owner: "alice", _csrf: alice.csrf }),
    await admin.post("/admin/size", { owner: "alice", size: "2GiB", _csrf: "x".repeat(43) }),
    await alice.request("POST", "/mailbox/delete", {}),
    await alice.post("/logout", { _csrf: "nope" }),
  ];
  for (const reply of attempts) {
    assert.equal(reply.status, 403);
    assert.match(reply.text, /did not come from this site/);
  }
  assert.equal(await readFile(form.usersFile, "utf8"), before);
  assert.equal((await alice.get("/")).status, 200, "still logged in: the forged logout did nothing");
});

test("a failing apply is shown as failed with its reason, and the list is kept", async (t) => {
  const applier = fakeApplier({ fail: "xl create semail-vm failed: not enough memory" });
  const form = await startForm(t, { directory, applier, web: LOOSE });
  const alice = await loggedIn(form, "alice");
  assert.equal(
    (await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" })).status,
    303,
  );
  await until(async () => (await alice.status()).state === "failed", "the apply to fail");
  const status = await alice.status();
  assert.equal(status.reason, "xl create semail-vm failed: not enough memory");
  const page = await alice.get("/");
  assert.match(page.text, /data-state="failed"/);
  assert.match(page.text, /Failed\. The list is saved/);
  assert.match(page.text, /xl create semail-vm failed: not enough memory/);
  assert.deepEqual(await addresses(form), ["alice:alice@alice.semail.test"], "the list is not lost");

  // Once the cause is fixed, the next change applies everything, the earlier change included.
  applier.fail = undefined;
  const bob = await loggedIn(form, "bob");
  await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" });
  await until(async () => (await bob.status()).state === "done", "the apply to be done");
  assert.deepEqual(applier.runs.at(-1), ["alice@alice.semail.test", "bob@bob.semail.test"]);
});

test("the status endpoint needs a session", async (t) => {
  const form = await startForm(t, { directory, web: LOOSE });
  const reply = await new Client(form.url).get("/status.json");
  assert.equal(reply.status, 401);
});
