// The user's journey on the local system (`semail start`, a real child process): two
// users create mailboxes in a browser, send each other mail through the outbound daemon
// (AUTH, MX via the local named, delivery to the inbound daemon), a message to a domain
// whose MX temp-fails waits in the queue until the server recovers, and a deleted
// mailbox refuses new mail while its old mail stays on disk.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { createTransport } from "nodemailer";
import { chromium, type Browser, type Page } from "playwright-core";
import { folderName } from "../../mailservers/inbound/store/index.ts";
import { CHROMIUM } from "../helpers/chromium.ts";
import { zoneText } from "../helpers/named.ts";
import { SmtpClient } from "../helpers/smtp.ts";
import { startTarget } from "../helpers/target-smtp.ts";
import { readMbox } from "../mailservers/inbound/store/fixture.ts";
import { ROOT, SEMAIL, startLocal, writeLocalSettings } from "./local-process.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { isRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const ARTIFACTS = join(ROOT, "test-artifacts/e2e");

async function createMailbox(page: Page, web: string, uid: string, password: string): Promise<void> {
  await page.goto(`${web}/login`);
  await page.getByLabel("Login name").fill(uid);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Create your mailbox" }).waitFor();
  await page.getByLabel("Mailbox id (before the @)").fill(uid);
  await page.getByLabel("Subdomain", { exact: true }).fill(uid);
  await page.getByRole("button", { name: "Create my mailbox" }).click();
  await page.getByRole("heading", { name: "Your mailbox" }).waitFor();
  await page.waitForSelector('#apply-status[data-state="done"]', { timeout: 60_000 });
  await page.screenshot({ path: join(ARTIFACTS, `${uid}-mailbox.png`), fullPage: true });
}

function submit(port: number, user: string, pass: string) {
  return createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, auth: { user, pass } });
}

test("two users' journey through the local system", { timeout: 300_000 }, async (t) => {
  await mkdir(ARTIFACTS, { recursive: true });
  const dataDir = await tempDir(t, "semail-e2e-");

  const ports = await writeLocalSettings(dataDir);
  // A domain whose MX (127.0.0.2, on the port every local MX uses) fails once with 451.
  await mkdir(join(dataDir, "zones"));
  await writeFile(
    join(dataDir, "zones", "flaky.test.zone"),
    zoneText("flaky.test", ["@ IN MX 10 mx", "mx IN A 127.0.0.2"]),
  );
  const flaky = await startTarget({
    host: "127.0.0.2",
    port: ports.inbound,
    behaviour: { kind: "tempfail", times: 1 },
  });
  t.after(() => flaky.close());

  const local = await startLocal(dataDir);
  t.after(() => local.kill());
  const ready = local.ready;
  const output = local.output;
  assert.match(output(), new RegExp(`http://127\\.0\\.0\\.1:${ports.web}/`), "the banner prints the web form's URL");
  assert.match(output(), /swaks --server/, "the banner shows how to send a first mail");
  const web = `http://127.0.0.1:${ports.web}`;
  const { alice: alicePassword, bob: bobPassword } = ready.passwords as { alice: string; bob: string };

  // 1. Both users log in in a browser and create a mailbox on their own subdomain.
  const browser: Browser = await chromium.launch({ ...CHROMIUM, args: [...CHROMIUM.args] });
  t.after(() => browser.close());
  const alicePage = await (await browser.newContext()).newPage();
  const bobPage = await (await browser.newContext()).newPage();
  await createMailbox(alicePage, web, "alice", alicePassword);
  await createMailbox(bobPage, web, "bob", bobPassword);
  const alice = "alice@alice.semail.test";
  const bob = "bob@bob.semail.test";
  const mailRoot = join(dataDir, "mail");

  // 2-4. Alice writes to Bob through the outbound daemon; it resolves Bob's MX with named
  // and hands the message to the inbound daemon, which files it in INBOX and the pair folder.
  await submit(ports.submission, "alice", alicePassword).sendMail({
    envelope: { from: alice, to: [bob] },
    from: alice,
    to: bob,
    subject: "Hello Bob",
    text: "Lunch at noon?\n",
  });
  const bobInbox = join(mailRoot, "bob", "INBOX");
  const [first] = await untilValue(
    async () => {
      const messages = await readMbox(bobInbox);
      return messages.length > 0 ? messages : undefined;
    },
    "Alice's mail in Bob's INBOX",
    30_000,
    100,
  );
  assert.equal(first!.subject, "Hello Bob");
  assert.match(first!.body, /Lunch at noon\?/);
  assert.ok(first!.headers.some(([k, v]) => k === "Delivered-To" && v === bob));
  const pair = await readMbox(join(mailRoot, "bob", "mail", folderName(bob, alice)));
  assert.deepEqual(
    pair.map((m) => m.subject),
    ["Hello Bob"],
  );

  // 5. Bob replies by the same path.
  await submit(ports.submission, "bob", bobPassword).sendMail({
    envelope: { from: bob, to: [alice] },
    from: bob,
    to: alice,
    subject: "Re: Hello Bob",
    text: "Yes!\n",
  });
  const reply = await untilValue(
    async () => {
      const messages = await readMbox(join(mailRoot, "alice", "INBOX"));
      return messages.length > 0 ? messages : undefined;
    },
    "Bob's reply in Alice's INBOX",
    30_000,
    100,
  );
  assert.deepEqual(
    reply.map((m) => m.subject),
    ["Re: Hello Bob"],
  );

  // A user cannot send as another.
  await assert.rejects(
    submit(ports.submission, "bob", bobPassword).sendMail({
      envelope: { from: alice, to: [bob] },
      from: alice,
      to: bob,
      subject: "forged",
      text: "x\n",
    }),
    (err: { responseCode?: number }) => err.responseCode === 553,
  );

  // 6. To a domain whose MX temp-fails: queued, then delivered once the server recovers.
  await submit(ports.submission, "alice", alicePassword).sendMail({
    envelope: { from: alice, to: ["carol@flaky.test"] },
    from: alice,
    to: "carol@flaky.test",
    subject: "Patience",
    text: "Eventually.\n",
  });
  const config = join(dataDir, "semail.yaml");
  await untilValue(
    async () => {
      const { stdout } = await run(process.execPath, [SEMAIL, "queue", "list", "--config", config]);
      return /carol@flaky\.test/.test(stdout) && flaky.connections > 0 ? stdout : undefined;
    },
    "the deferred message in the queue",
    30_000,
    100,
  );
  assert.equal(flaky.messages.length, 0, "the first attempt was refused with 451");
  await run(process.execPath, [SEMAIL, "queue", "flush", "--config", config]);
  await until(async () => flaky.messages.length > 0, "delivery after the flush", 30_000, 100);
  assert.equal(flaky.messages.length, 1);
  assert.deepEqual(flaky.messages[0]!.recipients, ["carol@flaky.test"]);

  // 7. Bob deletes his mailbox: the inbound daemon refuses his address, his mail stays on disk.
  await bobPage.getByRole("link", { name: "Delete my mailbox…" }).click();
  await bobPage.getByRole("button", { name: `Yes, delete ${bob}` }).click();
  await bobPage.getByRole("heading", { name: "Create your mailbox" }).waitFor();
  await bobPage.waitForSelector('#apply-status[data-state="done"]', { timeout: 60_000 });
  const smtp = await SmtpClient.connect(ports.inbound);
  t.after(() => smtp.close());
  await smtp.command("EHLO test.example");
  await smtp.command(`MAIL FROM:<${alice}>`);
  const refused = await smtp.command(`RCPT TO:<${bob}>`);
  assert.equal(refused.code, 550, refused.text);
  const image = join(dataDir, "images", "bob.img");
  const kept = isRoot ? await readFile(image) : await readFile(bobInbox);
  assert.ok(kept.includes("Lunch at noon?"), "Bob's mail is still on disk after the deletion");

  // Ctrl-C stops every part cleanly: no slapd or named, no mount is left behind.
  assert.equal(await local.interrupt(), 0, output());
  const { stdout: mounts } = await run("findmnt", ["-rn", "-o", "TARGET"]);
  assert.ok(!mounts.includes(dataDir), "no mailbox filesystem stays mounted");
  // pgrep exits 1 when nothing matches; any other failure must fail the test.
  const { stdout: left } = await run("pgrep", ["-af", dataDir]).catch((err: { code?: number }) => {
    if (err.code === 1) return { stdout: "" };
    throw err;
  });
  assert.equal(left.trim(), "", "no child process outlives semail start");

  // A second start reuses the data: the same logins, Alice's mailbox and her mail.
  const second = await startLocal(dataDir);
  t.after(() => second.kill());
  assert.deepEqual(second.ready.passwords, ready.passwords);
  const again = await readMbox(join(mailRoot, "alice", "INBOX"));
  assert.deepEqual(
    again.map((m) => m.subject),
    ["Re: Hello Bob"],
  );
  await submit(ports.submission, "bob", bobPassword)
    .sendMail({ envelope: { from: bob, to: [alice] }, from: bob, to: alice, subject: "Still here?", text: "x\n" })
    .then(
      () => assert.fail("Bob no longer has a mailbox to send from"),
      (err: { responseCode?: number }) => assert.equal(err.responseCode, 553),
    );
  await submit(ports.submission, "alice", alicePassword).sendMail({
    envelope: { from: alice, to: [alice] },
    from: alice,
    to: alice,
    subject: "After restart",
    text: "x\n",
  });
  await until(
    async () => (await readMbox(join(mailRoot, "alice", "INBOX"))).length === 2,
    "mail after the restart",
    30_000,
    100,
  );
  assert.equal(await second.interrupt(), 0, second.output());
});
