// The form in a real browser (Debian's chromium, headless, driven by playwright-core):
// log in with the keyboard, create a mailbox, watch the status reach done without a
// reload, delete it; the mailbox page following the container and a claim by itself; code
// boxes that wrap. Every page is saved to test-artifacts/web/ to be looked at.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { loadUsersList } from "../../config/users-file.ts";
import { DEFAULT_TRANSPORT_SECURITY, mtaStsFiles, mtaStsId } from "../../config/stack/transport-security.ts";
import { createDirectory } from "../../directory/ldap.ts";
import { CHROMIUM } from "../helpers/chromium.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { testDirectoryForFile } from "../helpers/slapd.ts";
import { LIST_OPTIONS, fakeApplier, startForm } from "./helpers.ts";
import { repoPath } from "../../testkit/repo-path.ts";

const ARTIFACTS = repoPath("test-artifacts/web");

const { slapd, directory } = testDirectoryForFile();
let profile: string;
let browser: BrowserContext;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  profile = await mkdtemp(join(tmpdir(), "semail-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM,
    args: [...CHROMIUM.args],
    viewport: { width: 1000, height: 800 },
  });
});
after(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** Logs in on the form's login page as a person would: the fields by their labels, then the button. */
async function logIn(page: Page, url: string, uid: string, password: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel("Login name").fill(uid);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test("log in, create a mailbox, see the status reach done, delete it", async (t) => {
  // Slow enough that the page shows the apply running before it is done.
  const applier = fakeApplier({ delayMs: 1500 });
  const form = await startForm(t, { directory, applier });
  const page = await browser.newPage();
  t.after(() => page.close());
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("response", (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
  });

  await page.goto(`${form.url}/`);
  assert.equal(new URL(page.url()).pathname, "/login");
  await shot(page, "01-login");

  // A wrong password first: the page says so and keeps the login name.
  await page.getByLabel("Login name").fill("alice");
  await page.getByLabel("Password").fill("not-her-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").waitFor();
  assert.equal(await page.getByRole("alert").textContent(), "Wrong login name or password.");
  await shot(page, "02-login-refused");
  assert.deepEqual(
    errors.splice(0).filter((e) => !/401/.test(e)),
    [],
    "only the refused login's 401 so far",
  );

  // Then with the keyboard only: the login field has focus, Tab to the password, Enter sends.
  await page.getByLabel("Login name").focus();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("alice");
  await page.keyboard.press("Tab");
  await page.keyboard.type("alice-Secret1");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Create your mailbox" }).waitFor();
  await shot(page, "03-create-form");

  await page.getByLabel("Mailbox id (before the @)").fill("alice");
  await page.getByLabel("Subdomain", { exact: true }).fill("wonderland");
  await page.getByRole("button", { name: "Create my mailbox" }).click();
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  const status = page.locator("#apply-status");
  assert.match((await status.getAttribute("data-state")) ?? "", /^(queued|applying)$/);
  await shot(page, "04-mailbox-applying");

  // The status reaches done by the page's script, not by a navigation.
  // Strings, not functions: the test is compiled without the DOM types.
  await page.evaluate("window.semailMarker = 42");
  await page.waitForSelector('#apply-status[data-state="done"]', { timeout: 15_000 });
  assert.equal(await page.evaluate("window.semailMarker"), 42, "no reload happened");
  assert.match((await status.textContent()) ?? "", /Done: the system matches the list\./);
  await shot(page, "05-mailbox-done");
  assert.deepEqual(applier.runs, [["alice@wonderland.semail.test"]]);

  await page.getByRole("link", { name: "Delete my mailbox…" }).click();
  await page.getByRole("heading", { name: "Delete the mailbox?" }).waitFor();
  await shot(page, "06-confirm-delete");
  await page.getByRole("button", { name: "Yes, delete alice@wonderland.semail.test" }).click();
  await page.getByRole("heading", { name: "Create your mailbox" }).waitFor();
  assert.match((await page.getByRole("status").first().textContent()) ?? "", /kept until an administrator removes it/);
  await shot(page, "07-deleted");
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).mailboxes.length, 0);

  // The same page on a phone-sized screen.
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "08-create-form-phone");
  const overflow = Number(
    await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"),
  );
  assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px too wide)`);
  assert.deepEqual(errors, [], "no script errors and no CSP violations");
});

test("an administrator's list of mailboxes", async (t) => {
  const form = await startForm(t, { directory, applier: fakeApplier() });
  await form.store.update(() => [
    { owner: "alice", address: "alice@wonderland.semail.test" },
    { owner: "bob", address: "bob@example.org", size: 2 * 1024 ** 3 },
  ]);
  const page = await browser.newPage();
  t.after(() => page.close());
  await logIn(page, form.url, "admin", "admin-Secret3");
  await page.getByRole("link", { name: "All mailboxes" }).click();
  await page.getByRole("heading", { name: "All mailboxes" }).waitFor();
  assert.equal(await page.getByRole("row").count(), 3);
  await page.getByLabel("Size of bob@example.org").fill("3GiB");
  await page
    .getByRole("row", { name: /bob@example\.org/ })
    .getByRole("button", { name: "Change" })
    .click();
  await page.getByText("The size is changed").waitFor();
  // Once applied, the banner says so instead of "being applied".
  await page.waitForSelector('#apply-status[data-state="done"]', { timeout: 15_000 });
  assert.equal(await page.locator("main > p.notice").textContent(), "The size is changed and applied.");
  await shot(page, "09-admin");
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.size, 3 * 1024 ** 3);
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "10-admin-phone");
});

test("an external domain's page shows the MX record to add; a directory outage shows the 503 page", async (t) => {
  const form = await startForm(t, {
    directory,
    applier: fakeApplier(),
    mxCheck: async () => ({ state: "elsewhere", hosts: ["mail.provider.net"] }),
  });
  const page = await browser.newPage();
  t.after(() => page.close());
  await logIn(page, form.url, "bob", "bob-Secret2");
  await page.getByLabel("Mailbox id (before the @)").fill("bob");
  await page.getByLabel(/My own domain/).check();
  await page.getByLabel("Domain", { exact: true }).fill("example.org");
  // Enter in a field sends the form, as without a mouse.
  await page.getByLabel("Domain", { exact: true }).press("Enter");
  await page.getByRole("heading", { name: "DNS of example.org" }).waitFor();
  // The MX record's box (a pending claim also shows its TXT record in one).
  assert.equal(
    await page.locator("pre code", { hasText: " IN MX " }).textContent(),
    "example.org. IN MX 10 mx.semail.test.",
  );
  assert.match(
    (await page.locator("#mx-check").textContent()) ?? "",
    /does not point to us yet; it points to mail\.provider\.net/,
  );
  // MTA-STS and TLS-RPT, recommended: the id is the one of the policy file served for the domain.
  const policy = mtaStsFiles(["example.org"], "semail.test", DEFAULT_TRANSPORT_SECURITY)["example.org.txt"]!;
  assert.match(
    (await page.locator("#transport-records").textContent()) ?? "",
    /^Recommended, not needed for the mailbox to go live/,
  );
  assert.equal(
    await page.locator("#transport-records + pre").textContent(),
    [
      `_mta-sts.example.org. IN TXT "v=STSv1; id=${mtaStsId(policy)}"`,
      "mta-sts.example.org. IN CNAME mta-sts.semail.test.",
      '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@semail.test"',
    ].join("\n"),
  );
  await shot(page, "11-external-domain");

  const closed = createDirectory(slapd.settings({ url: "ldap://127.0.0.1:1" }));
  t.after(() => closed.close());
  const down = await startForm(t, { directory: closed });
  await logIn(page, down.url, "bob", "bob-Secret2");
  await page.getByRole("heading", { name: "Directory unavailable" }).waitFor();
  await shot(page, "12-directory-down");
});

test("the banner after creating a mailbox follows the apply status, also after a reload", async (t) => {
  // As in production: the applier knows the SSH line of the container it made.
  const applier = Object.assign(fakeApplier({ delayMs: 1500 }), {
    sshCommand: async (owner: string) => `ssh -J semail-jump@203.0.113.10 ${owner}@172.30.0.5`,
  });
  const form = await startForm(t, { directory, applier });
  const page = await browser.newPage();
  t.after(() => page.close());
  await logIn(page, form.url, "bob", "bob-Secret2");
  await page.getByLabel("Mailbox id (before the @)").fill("bob");
  await page.getByLabel("Subdomain", { exact: true }).fill("builder");
  await page.getByRole("button", { name: "Create my mailbox" }).click();
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  const banner = page.locator("main > p.notice");
  assert.match((await banner.textContent()) ?? "", /The change is being applied/);

  await page.waitForSelector('#apply-status[data-state="done"]', { timeout: 15_000 });
  assert.equal(
    await banner.textContent(),
    "Your mailbox is created and set up: see below how to use it.",
    "the script changed the banner with the status",
  );
  await shot(page, "13-created-banner-done");
  await page.reload();
  await page.locator("#apply-status").waitFor();
  assert.equal(await page.locator("#apply-status").getAttribute("data-state"), "done");
  assert.equal(
    await banner.textContent(),
    "Your mailbox is created and set up: see below how to use it.",
    'a reload does not bring back "being applied"',
  );

  // A failed apply turns the banner into what failed, not "being applied" either.
  applier.fail = 'lvcreate: Volume group "semail" has insufficient free space';
  form.runner.request("test");
  await form.runner.idle();
  await page.reload();
  assert.match((await banner.textContent()) ?? "", /setting it up failed; the status below says why/);
});

/** The parts of `selector`'s text that sit on different lines (a word broken in two has two). */
const LINES_OF = (selector: string) => `Array.from(document.querySelectorAll(${JSON.stringify(selector)})).map((el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return { text: el.textContent, lines: new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top))).size };
})`;

/** Elements of main whose box reaches past main's content box (a pre wraps; its own test is below). */
const OVERFLOWING = `(() => {
  const main = document.querySelector("main");
  const style = getComputedStyle(main);
  const right = main.getBoundingClientRect().right - parseFloat(style.paddingRight) + 1;
  return Array.from(main.querySelectorAll("*")).filter((el) => !el.closest("pre") && el.getBoundingClientRect().right > right).map((el) => el.tagName + "." + el.className + ": " + el.textContent.slice(0, 60));
})()`;

test("long addresses wrap inside their column; names and headings never break mid-word", async (t) => {
  const form = await startForm(t, { directory, applier: fakeApplier() });
  // No hyphen to break at: the longest id and label the users list takes.
  const longAddress = `${"averylongmailboxname".repeat(3)}abcd@${"thelongestsubdomainlabel".repeat(2)}abcdefghijklmno.semail.test`;
  await form.store.update(() => [
    { owner: "alice", address: longAddress },
    { owner: "maximilian.vonhohenzollern", address: "max@example.org" },
    {
      owner: "bob",
      address: "bob-the-builder-of-very-long-addresses@builders-and-constructors-of-the-world.example.org",
    },
  ]);
  const page = await browser.newPage();
  t.after(() => page.close());
  await page.setViewportSize({ width: 1000, height: 800 });
  await logIn(page, form.url, "admin", "admin-Secret3");
  await page.goto(`${form.url}/admin`);
  await page.getByRole("heading", { name: "All mailboxes" }).waitFor();
  for (const width of [1000, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await shot(page, `14-admin-long-addresses-${width}`);
    assert.deepEqual(await page.evaluate(OVERFLOWING), [], `nothing reaches past the page's column at ${width}px`);
    const names = (await page.evaluate(LINES_OF('td[data-label="Owner"], th'))) as Array<{
      text: string;
      lines: number;
    }>;
    assert.deepEqual(
      names.filter((n) => n.lines > 1),
      [],
      `owner names and headings on one line each at ${width}px`,
    );
  }

  // Alice's own page: the long address in the details, the banner, the hints and the buttons.
  await page.context().clearCookies();
  await logIn(page, form.url, "alice", "alice-Secret1");
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  for (const width of [1000, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await shot(page, `15-mailbox-long-address-${width}`);
    assert.deepEqual(await page.evaluate(OVERFLOWING), [], `nothing reaches past the page's column at ${width}px`);
  }
  await page.getByRole("link", { name: "Delete my mailbox…" }).click();
  await page.getByRole("heading", { name: "Delete the mailbox?" }).waitFor();
  for (const width of [1000, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await shot(page, `16-confirm-long-address-${width}`);
    assert.deepEqual(await page.evaluate(OVERFLOWING), [], `nothing reaches past the page's column at ${width}px`);
  }
});

test("the mailbox page follows by itself: the SSH line appears when the container is made, and a claim goes live with its MX seen", {
  timeout: 90_000,
}, async (t) => {
  // As local mode's containers: the SSH line is known once an apply has made the container.
  let made = false;
  const applier = Object.assign(fakeApplier({ delayMs: 1500 }), {
    sshCommand: async (owner: string) => (made ? `ssh -J semail-jump@203.0.113.10 ${owner}@172.30.0.5` : undefined),
  });
  const applyOnce = applier.apply;
  applier.apply = async (context) => {
    await applyOnce(context);
    made = true;
  };
  // The DNS of the claimed domain serves no zone for it yet: it refuses (EREFUSED).
  const dns = await startTestNamed([{ name: "other.example", text: zoneText("other.example", []) }]);
  t.after(() => dns.stop());
  const form = await startForm(t, { directory, applier, web: { dnsServers: [dns.server] } });
  const page = await browser.newPage();
  t.after(() => page.close());
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });

  await logIn(page, form.url, "alice", "alice-Secret1");
  await page.getByLabel("Mailbox id (before the @)").fill("alice");
  await page.getByLabel("Subdomain", { exact: true }).fill("wonderland");
  await page.getByRole("button", { name: "Create my mailbox" }).click();
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  assert.match(
    (await page.locator("#mailbox-use").textContent()) ?? "",
    /shown here once the system has made the container/,
  );
  await page.evaluate("window.semailMarker = 42");
  await page.locator("#mailbox-use code", { hasText: "ssh -J" }).waitFor({ timeout: 20_000 });
  assert.equal(
    await page.locator("#mailbox-use pre code").textContent(),
    "ssh -J semail-jump@203.0.113.10 alice@172.30.0.5",
  );
  assert.equal(await page.evaluate("window.semailMarker"), 42, "no reload happened");
  await shot(page, "17-ssh-line-followed");

  // Bob claims a domain; its first check finds no answer, as the DNS does not serve it yet.
  await page.context().clearCookies();
  await logIn(page, form.url, "bob", "bob-Secret2");
  await page.getByLabel("Mailbox id (before the @)").fill("bob");
  await page.getByLabel(/My own domain/).check();
  await page.getByLabel("Domain", { exact: true }).fill("home.example");
  await page.getByRole("button", { name: "Create my mailbox" }).click();
  await page.getByRole("heading", { name: "Prove that home.example is yours" }).waitFor();
  assert.match((await page.locator("#mx-check").textContent()) ?? "", /could not be checked right now \(EREFUSED\)/);
  await page.evaluate("window.semailMarker = 43");

  // The domain's owner publishes the records and a check (the next automatic one) finds them.
  const token = (await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")!.pendingProof!;
  await dns.reload([
    {
      name: "home.example",
      text: zoneText("home.example", ["@ IN MX 10 mx.semail.test.", `_semail IN TXT "semail-proof=${token}"`]),
    },
  ]);
  await form.proofs.checkNow("bob");
  await page.waitForSelector('#mailbox-follows[data-live="true"]', { timeout: 30_000 });
  assert.equal(await page.evaluate("window.semailMarker"), 43, "no reload happened");
  assert.equal(await page.locator("#proof").count(), 0, "the proof section is gone");
  assert.equal(
    await page.locator("#mx-check").textContent(),
    "Checked now: the MX of home.example points to us (mx.semail.test).",
  );
  assert.equal(await page.locator("main > p.notice").textContent(), "The domain is proven: your mailbox is live.");
  await page.getByRole("heading", { name: "How to send and read mail" }).waitFor();
  await shot(page, "18-claim-live-followed");
  assert.deepEqual(errors, [], "no script errors and no CSP violations");
});

test("at 1200 px no code box hides the end of a record or command, and the key box is six lines high", async (t) => {
  const applier = Object.assign(fakeApplier(), {
    sshCommand: async (owner: string) =>
      `ssh -J semail-jump@mail-gateway.wonderland-of-long-names.example:40222 ${owner}@172.30.0.5`,
  });
  const form = await startForm(t, { directory, applier, mxCheck: async () => ({ state: "none" }) });
  await form.store.update(() => [
    { owner: "alice", address: "alice@wonderland-of-long-names.example" },
    {
      owner: "bob",
      address: "bob@the-home-of-bob-the-builder.example",
      pendingProof: "0123456789abcdef0123456789abcdef",
    },
  ]);
  const page = await browser.newPage();
  t.after(() => page.close());
  await page.setViewportSize({ width: 1200, height: 900 });
  const hidden = `Array.from(document.querySelectorAll("pre")).filter((el) => el.scrollWidth > el.clientWidth).map((el) => el.textContent)`;
  for (const [uid, password] of [
    ["alice", "alice-Secret1"],
    ["bob", "bob-Secret2"],
  ] as const) {
    await page.context().clearCookies();
    await logIn(page, form.url, uid, password);
    await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
    await shot(page, `19-code-boxes-1200-${uid}`);
    assert.ok((await page.locator("pre").count()) >= 2, "the records are in code boxes");
    assert.deepEqual(await page.evaluate(hidden), [], `${uid}: every code box shows its whole lines`);
    const key = page.getByLabel("Public key");
    assert.equal(await key.getAttribute("rows"), "6");
    const box = await key.boundingBox();
    assert.ok(
      box !== null && box.height >= 120 && box.width >= 500,
      `the key box is big enough for a key: ${JSON.stringify(box)}`,
    );
  }
  // Copying a wrapped record gives its one line: the wrap adds no newline.
  const copied = await page.evaluate(
    `(() => { const r = document.createRange(); r.selectNodeContents(document.querySelectorAll("#client-records + pre")[0]); const s = getSelection(); s.removeAllRanges(); s.addRange(r); return s.toString(); })()`,
  );
  assert.equal(String(copied).split("\n").length, 7, "one line per SRV/CNAME record");
});
