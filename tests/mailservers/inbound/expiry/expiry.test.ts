// Mailbox expiry through the real inbound daemon, on its own clock moved by hand: refused at
// RCPT (550 5.1.1) from the moment it expires while the others still receive, and its owner
// warned once in their INBOX, inbound.expiryWarning before.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../../../lib/logger.ts";
import { startInbound } from "../../../../mailservers/inbound/daemon.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";
import { SmtpClient, sendMessage, simpleMessage } from "../../../helpers/smtp.ts";
import { provision, readMbox, testSettings } from "../fixture.ts";

const DAY = 86_400_000;
const usersYaml = (expires: string) => `mailboxes:
  - {owner: temp, address: temp@semail.test, aliases: [shop], expires: ${expires}}
  - {owner: ada, address: ada@semail.test}
`;

async function startExpiring(t: TestContext, expires: string, now: { at: number }) {
  const dir = await tempDir(t, "semail-expiry-");
  const settings = testSettings(dir, { expiryWarning: "7d" });
  await writeFile(settings.users, usersYaml(expires));
  await provision(settings.inbound.mailRoot, [
    { owner: "temp", address: "" },
    { owner: "ada", address: "" },
  ]);
  const daemon = await startInbound(settings, {
    logger: silentLogger(),
    limits: { closeTimeoutMs: 200 },
    clock: () => now.at,
  });
  t.after(() => daemon.stop());
  return {
    daemon,
    settings,
    port: daemon.addresses[0]!.boundPort,
    inbox: (owner: string) => readMbox(path.join(settings.inbound.mailRoot, owner, "INBOX")),
  };
}

async function rcpt(port: number, to: string) {
  const client = await SmtpClient.connect(port);
  try {
    await client.command("EHLO client.test");
    await client.command("MAIL FROM:<bob@origin.example>");
    return await client.command(`RCPT TO:<${to}>`);
  } finally {
    client.close();
  }
}

test("an expired mailbox is refused at RCPT with 550 5.1.1, by any of its addresses; another still receives", async (t) => {
  const now = { at: Date.parse("2030-01-09T23:59:59Z") };
  const fx = await startExpiring(t, "2030-01-10", now);
  assert.equal((await rcpt(fx.port, "temp@semail.test")).code, 250, "the day before it expires");
  now.at = Date.parse("2030-01-10T00:00:00Z");
  for (const address of ["temp@semail.test", "shop@semail.test", "temp+tag@semail.test"]) {
    const reply = await rcpt(fx.port, address);
    assert.equal(reply.code, 550, address);
    assert.match(reply.text, /^5\.1\.1 /);
  }
  const reply = await sendMessage(fx.port, {
    from: "bob@origin.example",
    to: ["ada@semail.test"],
    data: simpleMessage({ from: "bob@origin.example", to: "ada@semail.test", subject: "still here" }),
  });
  assert.equal(reply.code, 250);
  assert.deepEqual(
    (await fx.inbox("ada")).map((m) => m.subject),
    ["still here"],
  );
});

test("the owner is warned once in their INBOX, a week before; a new date warns again", async (t) => {
  const expires = Date.parse("2030-01-10T00:00:00Z");
  const now = { at: expires - 8 * DAY };
  const fx = await startExpiring(t, "2030-01-10", now);
  const warnings = async () =>
    (await fx.inbox("temp")).filter((m) => m.subject?.startsWith("Your mailbox temp@semail.test expires"));
  assert.deepEqual(await warnings(), [], "eight days before: not yet");

  now.at = expires - 6 * DAY;
  await fx.daemon.reload();
  await fx.daemon.reload();
  now.at = expires - 1 * DAY;
  await fx.daemon.reload();
  const once = await warnings();
  assert.equal(once.length, 1);
  assert.match(once[0]!.subject!, /2030-01-10T00:00:00Z/);
  assert.equal(once[0]!.headers.find(([k]) => k === "Auto-Submitted")?.[1], "auto-generated");
  assert.deepEqual(await fx.inbox("ada"), [], "nobody else is warned");

  // The administrator moves the date: the owner hears of the new one.
  await writeFile(fx.settings.users, usersYaml("2030-01-12"));
  await fx.daemon.reload();
  assert.equal((await warnings()).length, 2);
});
