// The webmail in a real browser (Debian's chromium through playwright-core) against real
// slapd, inbound, outbound (MX through a real named), Dovecot and Roundcube: a wrong
// password is refused; alice logs in with her LDAP password, sees her pair folder, opens
// a message the inbound daemon stored and replies; bob gets the reply in his INBOX through
// the outbound and inbound daemons, From alice's mailbox address; a From forced into the
// form that is not hers is refused by the outbound daemon (553); when her address changes
// in the users list, her one identity follows. Screenshots go to
// test-artifacts/webmail/; the PHP processes' PSS is reported idle and after the session.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { chromium, type Page } from "playwright-core";
import { usersListOptions } from "../../../config/settings.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { folderName } from "../../../mailservers/inbound/store/index.ts";
import { CHROMIUM } from "../../helpers/chromium.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { sendMessage } from "../../helpers/smtp.ts";
import { until } from "../../../testkit/until.ts";
import { readMbox, usersYaml } from "../../mailservers/inbound/fixture.ts";
import { describePss, pssKiB, startWebmailFixture } from "./fixture.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ARTIFACTS = repoPath("test-artifacts/webmail");
const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;
const ALICE_ADDRESS = "alice@alice.semail.test";
const BOB_ADDRESS = "bob@bob.semail.test";

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test("webmail: log in with LDAP, read what inbound stored, reply through outbound to bob", {
  skip: needsRoot,
  timeout: 300_000,
}, async (t) => {
  const started = Date.now();
  await mkdir(ARTIFACTS, { recursive: true });
  const fixture = await startWebmailFixture(t);
  const { mail, webmail } = fixture;
  const data = `From: Bob Example <${BOB_ADDRESS}>\r\nTo: ${ALICE_ADDRESS}\r\nSubject: Lunch on Friday?\r\nMessage-ID: <lunch@bob.semail.test>\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nShall we have lunch on Friday?\r\n`;
  const reply = await sendMessage(mail.inbound.port, { from: BOB_ADDRESS, to: [ALICE_ADDRESS], data });
  assert.equal(reply.code, 250, reply.lines.join(" "));
  t.diagnostic(`slapd, named, inbound, outbound, dovecot and roundcube ready in ${Date.now() - started} ms`);
  t.diagnostic(`PHP idle: PSS ${describePss(await pssKiB(await webmail.pids()))}`);

  const profile = await mkdtemp(join(tmpdir(), "semail-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM,
    args: [...CHROMIUM.args],
    viewport: { width: 1280, height: 860 },
  });
  // One hook, in this order: node:test runs a test's after hooks first-registered first.
  t.after(async () => {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  // Said with a script error, so a failure tells a request the server dropped from a bug.
  const failed: string[] = [];
  page.on("requestfailed", (request) => failed.push(`${request.url()}: ${request.failure()?.errorText ?? "?"}`));

  await page.goto(webmail.url);
  await page.locator("#rcmloginuser").waitFor();
  await shot(page, "01-login");

  await t.test("a wrong password is refused", async () => {
    await page.locator("#rcmloginuser").fill("alice");
    await page.locator("#rcmloginpwd").fill("not-her-password");
    await page.locator("#rcmloginsubmit").click();
    await page
      .locator("#messagestack")
      .getByText(/Login failed/)
      .waitFor({ timeout: 30_000 });
    await shot(page, "02-login-refused");
    assert.equal(await page.locator("#rcmloginuser").count(), 1, "still on the login page");
  });

  await t.test("alice logs in, sees INBOX and her pair folder, opens bob's message and replies", async () => {
    await page.locator("#rcmloginuser").fill("alice");
    await page.locator("#rcmloginpwd").fill(ALICE);
    await page.locator("#rcmloginsubmit").click();
    await page.locator("#messagelist").waitFor({ timeout: 30_000 });
    const row = page.locator("#messagelist tr", { hasText: "Lunch on Friday?" });
    await row.waitFor({ timeout: 30_000 });
    // The pair folder of (alice, bob), subscribed by Dovecot at login.
    const pair = folderName(ALICE_ADDRESS, BOB_ADDRESS);
    await shot(page, "03-inbox");
    await page.locator(`#mailboxlist a[rel="${pair}"]`).waitFor({ timeout: 10_000 });

    await row.dblclick();
    await page.getByText("Shall we have lunch on Friday?").waitFor({ timeout: 30_000 });
    await shot(page, "04-message");

    await page.locator("a.reply:not(.all)").locator("visible=true").first().click();
    const body = page.locator("#composebody");
    await body.waitFor({ timeout: 30_000 });
    // One identity, alice's mailbox address, and no other to pick.
    const from = await page.locator("#_from option").allTextContents();
    assert.equal(from.length, 1, `one identity: ${from.join(", ")}`);
    assert.match(from[0]!, new RegExp(ALICE_ADDRESS.replace(/\./g, "\\.")));
    await body.press("Control+Home");
    await body.pressSequentially("Yes, Friday at noon. -- Alice\n");
    await shot(page, "05-compose");
    await page
      .locator("#compose-content button.send, #compose-content a.send, .formbuttons button.send, button.btn.send")
      .first()
      .click();
    await page
      .locator("#messagestack")
      .getByText(/sent successfully/i)
      .waitFor({ timeout: 30_000 });
    await shot(page, "06-sent");
    // Roundcube leaves the compose page by itself a moment after sending; a goto meanwhile is aborted.
    await page.waitForURL((url) => url.searchParams.get("_action") !== "compose", { timeout: 30_000 });
    await page.waitForLoadState("load");
  });

  await t.test(
    "bob gets the reply in his INBOX through outbound and inbound, From alice's mailbox address",
    async () => {
      const inbox = mail.inbound.inbox("bob");
      let messages: Awaited<ReturnType<typeof readMbox>> = [];
      await until(
        async () => {
          messages = await readMbox(inbox).catch(() => []);
          return messages.some((m) => m.subject === "Re: Lunch on Friday?");
        },
        "the reply in bob's INBOX",
        30_000,
      );
      const got = messages.find((m) => m.subject === "Re: Lunch on Friday?")!;
      const header = (name: string) => got.headers.find(([k]) => k.toLowerCase() === name)?.[1] ?? "";
      assert.match(header("from"), new RegExp(`<?${ALICE_ADDRESS.replace(/\./g, "\\.")}>?`));
      assert.match(header("in-reply-to"), /<lunch@bob\.semail\.test>/);
      assert.match(
        got.from_line,
        new RegExp(`^${ALICE_ADDRESS.replace(/\./g, "\\.")} `),
        "the envelope sender is alice's address",
      );
      assert.match(got.body, /Yes, Friday at noon/);
      // Roundcube kept a copy in alice's Sent (Dovecot's mbox under her own root).
      assert.match(
        await readFile(join(mail.inbound.mailRoot, "alice", "mail", "Sent"), "utf8"),
        /Subject: Re: Lunch on Friday\?/,
      );
    },
  );

  await t.test(
    "a From that is not alice's, forced into the compose form, is refused by the outbound daemon (553)",
    async () => {
      // The page before has finished loading its scripts: leaving it midway aborts them.
      await page.waitForLoadState("load");
      await page.goto(`${webmail.url}?_task=mail&_action=compose`);
      await page.locator("#composebody").waitFor({ timeout: 30_000 });
      // What a crafted request could send: Roundcube takes a free-text From when it is no identity's id.
      await page.evaluate(`{
      const input = document.createElement("input");
      input.name = "_from";
      input.id = "_from";
      input.value = "Bob Example <bob@bob.semail.test>";
      document.querySelector("select[name=_from]").replaceWith(input);
    }`);
      await page.locator("#compose_to input").first().fill("bob@bob.semail.test");
      await page.locator("#compose_to input").first().press("Enter");
      await page.locator("#compose-subject").fill("Not from bob");
      await page.locator("#composebody").fill("Forged.");
      await page.locator("button.btn.send").first().click();
      await page
        .locator("#messagestack")
        .getByText(/SMTP Error \(553\).*5\.7\.1 Sender <bob@bob\.semail\.test> is not an address of alice/)
        .waitFor({ timeout: 30_000 });
      await shot(page, "07-forged-from-refused");
      assert.equal((await readMbox(mail.inbound.inbox("bob"))).filter((m) => m.subject === "Not from bob").length, 0);
    },
  );

  await t.test("when alice's mailbox address changes in the users list, her one identity follows it", async () => {
    const moved = [
      { owner: "alice", address: "alice@wonder.semail.test" },
      { owner: "bob", address: BOB_ADDRESS },
    ];
    await webmail.reload(parseUsersList(usersYaml(moved), usersListOptions(mail.inbound.settings)));
    // The page before has finished loading its scripts: leaving it midway aborts them.
    await page.waitForLoadState("load");
    await page.goto(`${webmail.url}?_task=mail&_action=compose`);
    await page.locator("#composebody").waitFor({ timeout: 30_000 });
    const from = await page.locator("#_from option").allTextContents();
    assert.equal(from.length, 1, from.join(", "));
    assert.match(from[0]!, /alice@wonder\.semail\.test/);
    await shot(page, "08-identity-follows");
  });

  t.diagnostic(`PHP after the session: PSS ${describePss(await pssKiB(await webmail.pids()))}`);
  const elsewhere = requests.filter(
    (u) => !u.startsWith(webmail.url) && !u.startsWith("data:") && !u.startsWith("blob:") && u !== "about:blank",
  );
  assert.deepEqual(elsewhere, [], "the webmail asks for nothing outside itself");
  assert.deepEqual(errors, [], `no script errors (requests that failed: ${failed.join("; ") || "none"})`);
  t.diagnostic(`done in ${Date.now() - started} ms`);
});
