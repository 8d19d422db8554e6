// Lists, expiry and forward in a real browser (Debian's chromium through playwright-core): an
// administrator creates a list with two members, written to a real slapd, and sets a mailbox's
// expiry; the owner sets a forward. Pages are saved to test-artifacts/web/ to be looked at.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { loadUsersList } from "../../config/users-file.ts";
import { createDirectory } from "../../directory/ldap.ts";
import { repoPath } from "../../testkit/repo-path.ts";
import { CHROMIUM } from "../helpers/chromium.ts";
import { TEST_ADMIN_PASSWORD, slapdForFile } from "../helpers/slapd.ts";
import { LIST_OPTIONS, fakeApplier, startForm } from "./helpers.ts";

const ARTIFACTS = repoPath("test-artifacts/web");
const slapd = slapdForFile();
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

test("an administrator creates a list with two members and sets an expiry; the owner sets a forward", async (t) => {
  const directory = createDirectory(slapd.settings({ bindDn: slapd.adminDn, bindPassword: TEST_ADMIN_PASSWORD }));
  const form = await startForm(t, { directory, applier: fakeApplier() });
  await form.store.update(() => [
    { owner: "alice", address: "alice@wonderland.semail.test" },
    { owner: "bob", address: "bob@builder.semail.test" },
  ]);
  const { page, errors } = await watchedPage(t);
  await logIn(page, form.url, "admin", "admin-Secret3");
  await page.getByRole("link", { name: "All mailboxes" }).click();
  const lists = page.getByRole("region", { name: "Mailing lists" });
  await lists.getByText("There are no lists yet.").waitFor();

  await lists.getByLabel("List name").fill("Team");
  await lists.getByLabel("Address (before the @)").fill("team");
  await lists.getByLabel("Members (login names, separated by commas)").fill("alice, bob");
  await lists.getByLabel("Who may post").selectOption("anyone");
  await lists.getByRole("button", { name: "Create the list" }).click();
  const team = page.getByRole("article", { name: /team@semail\.test/ });
  await team.waitFor();
  assert.deepEqual(await team.locator(".member").allTextContents(), ["alice", "bob"]);
  assert.equal(await team.locator(".rule").textContent(), "anyone");
  await shot(page, "30-admin-list-created");
  const written = await directory.lists!();
  assert.deepEqual(
    written.map((l) => [l.address, l.rule, l.members.map((m) => m.uid).sort()]),
    [["team@semail.test", "anyone", ["alice", "bob"]]],
  );

  const row = page.getByRole("row", { name: /alice@wonderland\.semail\.test/ });
  await row.getByLabel("Expiry of alice@wonderland.semail.test").fill("2027-06-01");
  await row.getByRole("button", { name: "Set" }).click();
  await page.waitForURL(/\/admin\?expiry$/);
  assert.equal(
    await page.getByLabel("Expiry of alice@wonderland.semail.test").inputValue(),
    "2027-06-01",
    "the page shows the new expiry",
  );
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("alice")?.expires?.written, "2027-06-01");
  await page.setViewportSize({ width: 375, height: 740 });
  await shot(page, "31-admin-lists-phone");
  const overflow = Number(
    await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"),
  );
  assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px too wide)`);
  await page.setViewportSize({ width: 1000, height: 800 });

  await page.context().clearCookies();
  await logIn(page, form.url, "alice", "alice-Secret1");
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  await page.getByText("Your mail is not forwarded.").waitFor();
  await page.getByLabel("Forward to").fill("alice@elsewhere.example");
  await page.getByLabel("Keep a copy here too").uncheck();
  await page.getByRole("button", { name: "Forward my mail" }).click();
  await page.getByText(/Your mail is forwarded to alice@elsewhere\.example, and not kept here/).waitFor();
  await shot(page, "32-owner-forward");
  assert.deepEqual((await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("alice")?.forward, {
    to: "alice@elsewhere.example",
    keepCopy: false,
  });
  assert.deepEqual(errors, [], "no script errors and no CSP violations");
});
