// The administrators' page against a real slapd, a real named and real mail files: every
// mailbox with its owner, aliases, use and size; a size change applied and logged with the
// administrator's uid; `semail report`'s findings with their fixes, kept for a minute. Each
// action is tried as a plain user (403, nothing changed) and as an administrator.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, test, type TestContext } from "node:test";
import { pino } from "pino";
import { mailRootUsage } from "../../cli/mail-root-usage.ts";
import { parseSettings, type Settings } from "../../config/settings.ts";
import { loadUsersList } from "../../config/users-file.ts";
import type { RunningNamed } from "../../deploy/local/named.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import { provisionRoot } from "../mailservers/inbound/store/fixture.ts";
import { type Client, LIST_OPTIONS, fakeApplier, loggedInClient, startForm, type RunningForm } from "./helpers.ts";

const PASSWORDS = new Map(TEST_USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };
const { slapd, directory } = testDirectoryForFile();
let named: RunningNamed;

// The managed domain and alice's subdomain point at our MX; bob's subdomain has no MX, and
// nothing has SPF or DMARC: the report has problems to show, each with its fix.
before(async () => {
  named = await startTestNamed([
    {
      name: "semail.test",
      text: zoneText("semail.test", [
        "@ IN MX 10 mx.semail.test.",
        "mx IN A 127.0.0.1",
        "alice IN MX 10 mx.semail.test.",
      ]),
    },
  ]);
});
after(async () => {
  await named?.stop();
});

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);
const alert = (text: string) =>
  /role="alert">([^<]*)</.exec(text)?.[1]?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))) ?? "";

/** A logger whose JSON lines the test reads. */
function recordedLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const text: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: "info" }, sink);
  return {
    logger,
    lines: () =>
      text
        .join("")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Settings for the report: this slapd and named, a mail root where alice's mailbox holds 3 MiB, bob's not there. */
async function world(t: TestContext): Promise<{ settings: Settings; mailRoot: string }> {
  const dir = await tempDir(t, "semail-admin-");
  const mailRoot = path.join(dir, "mail");
  await provisionRoot(mailRoot, "alice");
  await writeFile(path.join(mailRoot, "alice", "INBOX"), Buffer.alloc(3 * 1024 * 1024, "a"));
  const settings = parseSettings(
    {
      managedDomain: LIST_OPTIONS.managedDomain,
      users: path.join(dir, "users.yaml"),
      ldap: slapd.settings(),
      inbound: { mailRoot },
      outbound: { spool: path.join(dir, "spool"), delivery: { resolver: named.server } },
      acme: { stateDir: path.join(dir, "acme") },
      log: { level: "silent" },
    },
    "test",
  );
  return { settings, mailRoot };
}

async function adminForm(t: TestContext, extra: { clock?: () => number } = {}) {
  const { settings, mailRoot } = await world(t);
  const recorded = recordedLogger();
  const applier = fakeApplier();
  const form = await startForm(t, {
    directory,
    applier,
    web: LOOSE,
    logger: recorded.logger,
    usage: mailRootUsage(mailRoot),
    report: { settings },
    ...extra,
  });
  const alice = await loggedIn(form, "alice");
  const bob = await loggedIn(form, "bob");
  assert.equal(
    (await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" })).status,
    303,
  );
  assert.equal((await alice.post("/mailbox/aliases", { alias: "shop" })).status, 303);
  assert.equal((await bob.post("/mailbox", { localPart: "bob", kind: "subdomain", subdomain: "bob" })).status, 303);
  return { form, applier, alice, bob, admin: await loggedIn(form, "admin"), logs: recorded.lines };
}

test("a plain user gets 403 for every administrator's action, and nothing changes", async (t) => {
  const { form, alice } = await adminForm(t);
  const before = await readFile(form.usersFile, "utf8");
  const page = await alice.get("/admin");
  assert.equal(page.status, 403);
  assert.doesNotMatch(page.text, /Health report|bob@bob\.semail\.test/, "nothing of the page leaks");
  assert.doesNotMatch((await alice.get("/")).text, /href="\/admin"/, "no link to it either");
  assert.equal((await alice.get("/admin/delete?owner=bob")).status, 403);
  assert.equal((await alice.post("/admin/size", { owner: "alice", size: "50GiB" })).status, 403);
  assert.equal((await alice.post("/admin/size", { owner: "bob", size: "2GiB" })).status, 403);
  assert.equal((await alice.post("/admin/delete", { owner: "bob" })).status, 403);
  assert.equal(await readFile(form.usersFile, "utf8"), before, "nothing changed");
});

test("an administrator sees every mailbox with its aliases, use and size, and the report's findings with their fixes", async (t) => {
  const { admin } = await adminForm(t);
  const page = await admin.get("/admin");
  assert.equal(page.status, 200);
  const row = (owner: string) =>
    new RegExp(
      `<tr>\\s*<td[^>]*>([^]*?)</td>\\s*<td data-label="Owner">${owner}</td>\\s*<td data-label="Used">([^<]*)</td>`,
    ).exec(page.text);
  const alice = row("alice");
  assert.ok(alice, "alice's row");
  assert.match(alice[1]!, /alice@alice\.semail\.test/);
  assert.match(alice[1]!, /Aliases: shop@alice\.semail\.test/);
  assert.equal(alice[2], "3 MiB (0 %)", "the bytes in her mailbox");
  const bob = row("bob");
  assert.ok(bob, "bob's row");
  assert.equal(bob[2], "—", "bob's mailbox is not on this machine: its use is not known");
  assert.match(page.text, /id="size-bob" name="size" value="1GiB"/);

  assert.match(page.text, /<h2 id="report">Health report<\/h2>/);
  assert.match(page.text, /id="report-state" data-status="FAIL">Overall <strong>FAIL<\/strong>/);
  // bob's subdomain has no MX, and his mailbox is not provisioned: each FAIL says what to do.
  const findings = [
    ...page.text.matchAll(
      /<li data-status="(FAIL|WARN|OK)"><strong>\1<\/strong> ([^<]*)(?:<br><span class="fix">Fix: ([^<]*)<\/span>)?<\/li>/g,
    ),
  ];
  const failed = findings.filter((f) => f[1] === "FAIL").map((f) => f[2]!);
  assert.ok(
    failed.some((f) => f.startsWith("dns: MX of bob.semail.test")),
    failed.join("\n"),
  );
  assert.ok(
    failed.some((f) => f.startsWith("mailboxes: mailbox bob (bob@bob.semail.test)")),
    failed.join("\n"),
  );
  assert.ok(
    findings.filter((f) => f[1] !== "OK").every((f) => (f[3] ?? "") !== ""),
    "every problem has its fix",
  );
  assert.ok(
    findings.some((f) => f[1] === "OK" && f[2]!.startsWith("mailboxes: mailbox alice")),
    "alice's mailbox is OK",
  );
  assert.ok(
    findings.some((f) => f[1] === "OK" && f[2]!.startsWith("directory:")),
    "the directory answers",
  );
  // Problems come first: no OK above a FAIL.
  const firstOk = findings.findIndex((f) => f[1] === "OK");
  assert.ok(findings.slice(firstOk).every((f) => f[1] === "OK"));
});

test("the report is kept for a minute: a page view within it does not run the checks again", async (t) => {
  let now = Date.parse("2026-12-07T10:00:00Z");
  const { admin } = await adminForm(t, { clock: () => now });
  const checkedAt = async () => /checked at ([^ ]+) \(again/.exec((await admin.get("/admin")).text)?.[1];
  assert.equal(await checkedAt(), "2026-12-07T10:00:00.000Z");
  now += 59_000;
  assert.equal(await checkedAt(), "2026-12-07T10:00:00.000Z", "the same report within the minute");
  now += 1000;
  assert.equal(await checkedAt(), "2026-12-07T10:01:00.000Z", "run again after it");
});

test("an administrator's size change is applied and logged with their uid; a shrink or a bad size is refused", async (t) => {
  const { form, applier, admin, logs } = await adminForm(t);
  await form.runner.idle();
  const runs = applier.runs.length;
  const resized = await admin.post("/admin/size", { owner: "bob", size: "2GiB" });
  assert.equal(resized.status, 303);
  assert.equal(resized.location, "/admin?resized");
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.size, 2 * 1024 ** 3);
  await form.runner.idle();
  assert.ok(applier.runs.length > runs, "the change went to the applier");
  const logged = logs().filter((l) => l.msg === "mailbox size changed");
  assert.deepEqual(
    logged.map((l) => [l.admin, l.owner, l.size]),
    [["admin", "bob", "2GiB"]],
  );

  const before = await readFile(form.usersFile, "utf8");
  const shrink = await admin.post("/admin/size", { owner: "bob", size: "1GiB" });
  assert.equal(shrink.status, 409);
  assert.equal(
    alert(shrink.text),
    "bob@bob.semail.test is 2GiB: a mailbox only grows (shrinking its filesystem could lose mail).",
  );
  assert.equal((await admin.post("/admin/size", { owner: "nobody", size: "5GiB" })).status, 404);
  assert.equal((await admin.post("/admin/size", { owner: "bob", size: "lots" })).status, 400);
  assert.equal((await admin.post("/admin/size", { owner: "bob", size: "5GiB", _csrf: "forged" })).status, 403);
  assert.equal(await readFile(form.usersFile, "utf8"), before, "nothing changed");
  assert.equal(logs().filter((l) => l.msg === "mailbox size changed").length, 1, "refusals change and log nothing");

  const deleted = await admin.post("/admin/delete", { owner: "bob" });
  assert.equal(deleted.status, 303);
  assert.deepEqual(
    logs()
      .filter((l) => l.msg === "mailbox deleted by an administrator")
      .map((l) => [l.admin, l.owner]),
    [["admin", "bob"]],
  );
});
