// A mailbox listed before its filesystem is mounted: RCPT gets a temporary 450 and the
// daemon writes nothing where the mount will go (mailbox-fs.sh refuses to mount over
// files); once provisioning has made the root, the same address is accepted.
import assert from "node:assert/strict";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { SmtpClient, simpleMessage } from "../../helpers/smtp.ts";
import { USERS, readMbox, startFixture, usersYaml } from "./fixture.ts";
import { until } from "../../../testkit/until.ts";

const NEWBIE = { owner: "newbie", address: "new@semail.test" };

it("answers 450 4.2.1 at RCPT for a listed mailbox whose root is not provisioned, creates nothing, and accepts it once the root exists", async (t) => {
  const f = await startFixture(t);
  const newbieRoot = path.join(f.mailRoot, "newbie");
  const rcpt = async (to: string) => {
    const c = await SmtpClient.connect(f.port);
    try {
      await c.command("EHLO client.example");
      await c.command("MAIL FROM:<a@example.org>");
      return await c.command(`RCPT TO:<${to}>`);
    } finally {
      c.close();
    }
  };
  // The users list names the mailbox before its filesystem is there.
  await writeFile(f.usersFile, usersYaml([...USERS, NEWBIE]));
  await until(async () => (await rcpt(NEWBIE.address)).code !== 550, "the new list to be loaded");

  const c = await SmtpClient.connect(f.port);
  t.after(() => c.close());
  await c.command("EHLO client.example");
  assert.equal((await c.command("MAIL FROM:<alice@example.org>")).code, 250);
  const refused = await c.command(`RCPT TO:<${NEWBIE.address}>`);
  assert.equal(refused.code, 450, refused.text);
  assert.equal(refused.text, `4.2.1 <${NEWBIE.address}>: mailbox is being set up; try again later`);
  // The other recipient of the same message is unaffected.
  assert.equal((await c.command("RCPT TO:<ada@semail.test>")).code, 250);
  const reply = await c.data(
    simpleMessage({ from: "alice@example.org", to: "ada@semail.test", subject: "while provisioning" }),
  );
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(
    (await readMbox(f.inbox("ada"))).map((m) => m.subject),
    ["while provisioning"],
  );
  await assert.rejects(
    stat(newbieRoot),
    { code: "ENOENT" },
    "nothing may be created where the filesystem will be mounted",
  );
  assert.ok(!(await readdir(f.mailRoot)).includes("newbie"));

  // An empty root (the mount point of a filesystem not mounted yet) is not ready either.
  await mkdir(newbieRoot, { mode: 0o700 });
  assert.equal((await c.command("MAIL FROM:<alice@example.org>")).code, 250);
  assert.equal((await c.command(`RCPT TO:<${NEWBIE.address}>`)).code, 450);
  await c.command("RSET");
  // Provisioning populates the root with its INBOX: accepted without a restart.
  await writeFile(path.join(newbieRoot, "INBOX"), "");
  assert.equal((await c.command("MAIL FROM:<alice@example.org>")).code, 250);
  assert.equal((await c.command(`RCPT TO:<${NEWBIE.address}>`)).code, 250);
  const stored = await c.data(simpleMessage({ from: "alice@example.org", to: NEWBIE.address, subject: "welcome" }));
  assert.equal(stored.code, 250, stored.text);
  assert.deepEqual(
    (await readMbox(path.join(newbieRoot, "INBOX"))).map((m) => m.subject),
    ["welcome"],
  );
});

it("creates its own default admin mailbox root at start, and nothing for listed owners", async (t) => {
  const f = await startFixture(t, { users: [] });
  assert.ok((await stat(path.join(f.mailRoot, "postmaster"))).isDirectory());
  assert.deepEqual((await readdir(f.mailRoot)).filter((name) => name !== ".tmp").sort(), ["postmaster"]);
  // Listed after start and never provisioned: refused for now, not created.
  await writeFile(f.usersFile, usersYaml([NEWBIE]));
  await f.daemon.reload();
  const c = await SmtpClient.connect(f.port);
  t.after(() => c.close());
  await c.command("EHLO client.example");
  await c.command("MAIL FROM:<>");
  assert.equal((await c.command("RCPT TO:<postmaster@semail.test>")).code, 250);
  assert.equal((await c.command(`RCPT TO:<${NEWBIE.address}>`)).code, 450);
  assert.equal(
    (
      await c.data(
        simpleMessage({ from: "mailer-daemon@example.org", to: "postmaster@semail.test", subject: "report" }),
      )
    ).code,
    250,
  );
  assert.equal((await readMbox(path.join(f.mailRoot, "postmaster", "INBOX"))).length, 1);
  assert.deepEqual((await readdir(f.mailRoot)).filter((name) => name !== ".tmp").sort(), ["postmaster"]);
});
