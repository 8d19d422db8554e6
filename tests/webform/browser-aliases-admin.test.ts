// Aliases and the administrators' page in a real browser (Debian's chromium through
// playwright-core): an owner adds an alias and removes it; an administrator sees every
// mailbox and the health report; a plain user gets 403 at /admin. Pages are saved to
// test-artifacts/web/ to be looked at.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { parseSettings } from "../../config/settings.ts";
import { loadUsersList } from "../../config/users-file.ts";
import type { RunningNamed } from "../../deploy/local/named.ts";
import { repoPath } from "../../testkit/repo-path.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { CHROMIUM } from "../helpers/chromium.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { testDirectoryForFile } from "../helpers/slapd.ts";
import { LIST_OPTIONS, fakeApplier, startForm } from "./helpers.ts";

const ARTIFACTS = repoPath("test-artifacts/web");
const { slapd, directory } = testDirectoryForFile();
let named: RunningNamed;
let profile: string;
let browser: BrowserContext;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  named = await startTestNamed([
    { name: "semail.test", text: zoneText("semail.test", ["@ IN MX 10 mx.semail.test.", "mx IN A 127.0.0.1"]) },
  ]);
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
  await named?.stop();
});

async function logIn(page: Page, url: string, uid: string, password: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel("Login name").fill(uid);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/** A new page whose script errors, console errors and failed responses are collected. */
async function watchedPage(t: TestContext): Promise<{ page: Page; errors: string[] }> {
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
  return { page, errors };
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

test("an owner adds an alias and removes it", async (t) => {
  const form = await startForm(t, { directory, applier: fakeApplier() });
  await form.store.update(() => [{ owner: "alice", address: "alice@wonderland.semail.test" }]);
  const { page, errors } = await watchedPage(t);
  await logIn(page, form.url, "alice", "alice-Secret1");
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  await page.getByText("No alias yet.").waitFor();

  await page.getByLabel("New alias (before the @)").fill("shop");
  await page.getByRole("button", { name: "Add this alias" }).click();
  await page.locator("#alias-list").getByText("shop@wonderland.semail.test").waitFor();
  await page.waitForSelector('#apply-status[data-state="done"]', { timeout: 15_000 });
  assert.match((await page.locator("main > p.notice").textContent()) ?? "", /The alias is added/);
  await shot(page, "20-alias-added");
  assert.deepEqual((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("alice")?.aliases, [
    "shop@wonderland.semail.test",
  ]);

  await page.getByRole("button", { name: "Remove the alias shop@wonderland.semail.test" }).click();
  await page.getByText("No alias yet.").waitFor();
  assert.match((await page.locator("main > p.notice").textContent()) ?? "", /The alias is removed/);
  await shot(page, "21-alias-removed");
  assert.deepEqual((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("alice")?.aliases, []);
  assert.deepEqual(errors, [], "no script errors and no CSP violations");
});

test("an administrator sees the mailboxes and the health report; a plain user gets 403 at /admin", async (t) => {
  const dir = await tempDir(t, "semail-admin-browser-");
  const settings = parseSettings(
    {
      managedDomain: LIST_OPTIONS.managedDomain,
      users: join(dir, "users.yaml"),
      ldap: slapd.settings(),
      inbound: { mailRoot: join(dir, "mail") },
      outbound: { spool: join(dir, "spool"), delivery: { resolver: named.server } },
      acme: { stateDir: join(dir, "acme") },
      log: { level: "silent" },
    },
    "test",
  );
  // bob's page asks the MX of his own domain: answered here, not by the Internet.
  const form = await startForm(t, {
    directory,
    applier: fakeApplier(),
    report: { settings },
    mxCheck: async () => ({ state: "none" }),
  });
  await form.store.update(() => [
    { owner: "alice", address: "alice@wonderland.semail.test", aliases: ["shop"] },
    { owner: "bob", address: "bob@example.org", size: 2 * 1024 ** 3 },
  ]);
  const { page, errors } = await watchedPage(t);
  await logIn(page, form.url, "admin", "admin-Secret3");
  await page.getByRole("link", { name: "All mailboxes" }).click();
  await page.getByRole("heading", { name: "All mailboxes" }).waitFor();
  assert.equal(await page.getByRole("row").count(), 3, "a heading row and one a mailbox");
  const alice = page.getByRole("row", { name: /alice@wonderland\.semail\.test/ });
  assert.match((await alice.textContent()) ?? "", /Aliases: shop@wonderland\.semail\.test/);
  await page.getByRole("heading", { name: "Health report" }).waitFor();
  const report = page.getByRole("region", { name: "Health report" });
  assert.match((await report.locator("#report-state").textContent()) ?? "", /^Overall FAIL, checked at /);
  // bob's domain has no MX pointing here: the finding and its fix are shown, not folded away.
  const mx = report.locator("li", { hasText: "MX of example.org" }).first();
  assert.ok(await mx.isVisible());
  assert.match((await mx.textContent()) ?? "", /^FAIL dns: MX of example\.org: .*Fix: publish/);
  await report.getByText(/checks? OK$/).click();
  assert.ok(
    await report.locator('li[data-status="OK"]', { hasText: "directory" }).isVisible(),
    "the passed checks unfold",
  );
  await shot(page, "22-admin-report");
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "23-admin-report-phone");
  const overflow = Number(
    await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"),
  );
  assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px too wide)`);
  assert.deepEqual(errors, [], "no script errors and no CSP violations");

  await page.context().clearCookies();
  await page.setViewportSize({ width: 1000, height: 800 });
  await logIn(page, form.url, "bob", "bob-Secret2");
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "All mailboxes" }).count(), 0, "no link for a plain user");
  const refused = await page.goto(`${form.url}/admin`);
  assert.equal(refused?.status(), 403);
  await page.getByRole("heading", { name: "Administrators only" }).waitFor();
  assert.equal(await page.getByRole("heading", { name: "Health report" }).count(), 0);
  await shot(page, "24-admin-refused");
  assert.deepEqual(
    errors.filter((e) => !/\b403\b/.test(e)),
    [],
    "only the refused page's 403",
  );
});
