// Mailing lists end to end: groups in the real slapd, the real inbound daemon, real mbox files.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { sendMessage, simpleMessage } from "../../../helpers/smtp.ts";
import { SmtpClient } from "../../../helpers/smtp.ts";
import { slapdForFile } from "../../../helpers/slapd.ts";
import { until } from "../../../../testkit/until.ts";
import { readMbox, startFixture } from "../fixture.ts";
import { addList, changeMembers } from "./ldap-groups.ts";
import { LIST_MAILBOXES, LIST_PEOPLE } from "./list-people.ts";

const slapd = slapdForFile({ users: [...LIST_PEOPLE, { uid: "admin", password: "admin-Secret5" }] });

/** The inbound daemon reading lists from the test slapd every `refresh` ms. */
function listFixture(t: Parameters<typeof startFixture>[0], users = LIST_MAILBOXES, refresh = 200) {
  const ldap = slapd.settings();
  return startFixture(t, {
    users,
    inbound: { lists: { enabled: true, refresh } },
    settings: {
      ldap: {
        url: ldap.url,
        baseDn: ldap.baseDn,
        userDnTemplate: ldap.userDnTemplate,
        adminGroupDn: ldap.adminGroupDn,
      },
    },
  });
}

const post = (port: number, from: string, to: string, subject: string) =>
  sendMessage(port, { from, to: [to], data: simpleMessage({ from, to, subject }) });

const header = (message: { headers: [string, string][] }, name: string) =>
  message.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

describe("mailing lists from LDAP groups", () => {
  it("delivers a member's post once to each local member, refuses a stranger, and follows a membership change in LDAP", async (t) => {
    await addList(slapd, {
      cn: "team",
      mail: "team@semail.test",
      members: ["alice", "bob", "carol"],
      owners: ["alice"],
    });
    const f = await listFixture(t);

    const first = await post(f.port, "alice@semail.test", "team@semail.test", "hello team");
    assert.equal(first.code, 250, first.text);
    for (const member of ["alice", "bob"]) {
      const [message, ...rest] = await readMbox(f.inbox(member));
      assert.equal(rest.length, 0, `${member} gets one copy`);
      assert.equal(message?.subject, "hello team");
      assert.deepEqual(header(message!, "List-Id"), ['"team" <team.semail.test>']);
      assert.deepEqual(header(message!, "List-Post"), ["<mailto:team@semail.test>"]);
      assert.deepEqual(header(message!, "List-Unsubscribe"), [
        "<mailto:alice@semail.test?subject=unsubscribe%20team%40semail.test>",
      ]);
      assert.deepEqual(header(message!, "Delivered-To"), [`${member}@semail.test`]);
      // The pair folder is (member, original sender).
      const folder = await readMbox(f.folder(member, `${member}@semail.test`, "alice@semail.test"));
      assert.deepEqual(
        folder.map((m) => m.subject),
        ["hello team"],
      );
    }
    assert.equal((await readMbox(f.inbox("dave"))).length, 0, "dave is not a member yet");

    const stranger = await post(f.port, "eve@elsewhere.test", "team@semail.test", "spam");
    assert.equal(stranger.code, 550);
    assert.match(stranger.text, /^5\.7\.1 <team@semail\.test>: only its members may post .*"post: members"/);
    const notYet = await post(f.port, "dave@semail.test", "team@semail.test", "early");
    assert.equal(notYet.code, 550, "dave is refused before he joins");

    await changeMembers(slapd, "team", { add: ["dave"], remove: ["bob"] });
    // Within a few refresh periods (200 ms each), with no restart; a refusal stores nothing, so retrying is safe.
    let last = notYet;
    await until(
      async () => (last = await post(f.port, "dave@semail.test", "team@semail.test", "joined")).code === 250,
      () => `dave's post accepted after the change (last: ${last.code} ${last.text})`,
      15_000,
      100,
    );
    assert.deepEqual(
      (await readMbox(f.inbox("dave"))).map((m) => m.subject),
      ["joined"],
    );
    assert.deepEqual(
      (await readMbox(f.inbox("alice"))).map((m) => m.subject),
      ["hello team", "joined"],
    );
    assert.deepEqual(
      (await readMbox(f.inbox("bob"))).map((m) => m.subject),
      ["hello team"],
      "bob left the list",
    );
    const bobNow = await post(f.port, "bob@semail.test", "team@semail.test", "still here?");
    assert.equal(bobNow.code, 550, "a former member may no longer post");
  });

  it("takes anyone's post on a list open to anyone; a list post goes in a transaction of its own", async (t) => {
    await addList(slapd, { cn: "open", mail: "open@semail.test", members: ["alice", "dave"], post: "post: anyone" });
    const f = await listFixture(t);
    const reply = await post(f.port, "eve@elsewhere.test", "open@semail.test", "from outside");
    assert.equal(reply.code, 250, reply.text);
    assert.deepEqual(
      (await readMbox(f.inbox("dave"))).map((m) => m.subject),
      ["from outside"],
    );

    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    await c.command("EHLO client.test");
    assert.equal((await c.command("MAIL FROM:<eve@elsewhere.test>")).code, 250);
    assert.equal((await c.command("RCPT TO:<open@semail.test>")).code, 250);
    const mixed = await c.command("RCPT TO:<bob@semail.test>");
    assert.deepEqual([mixed.code, mixed.text.slice(0, 5)], [452, "4.5.3"]);
    const nullSender = await post(f.port, "", "open@semail.test", "bounce");
    assert.deepEqual([nullSender.code, nullSender.text.slice(0, 5)], [550, "5.7.1"]);
  });

  it("skips a member whose mailbox is full and still stores the others' copies (250)", async (t) => {
    await addList(slapd, { cn: "quota", mail: "quota@semail.test", members: ["alice", "bob"] });
    const f = await listFixture(t, [
      { owner: "alice", address: "alice@semail.test" },
      { owner: "bob", address: "bob@semail.test", size: 1 },
    ]);
    const reply = await post(f.port, "alice@semail.test", "quota@semail.test", "to a full box");
    assert.equal(reply.code, 250, reply.text);
    assert.deepEqual(
      (await readMbox(f.inbox("alice"))).map((m) => m.subject),
      ["to a full box"],
    );
    assert.equal((await readMbox(f.inbox("bob"))).length, 0);
  });

  it("gives no copy here to a member whose mailbox is moving or on another host, and still stores the others' (250)", async (t) => {
    await addList(slapd, { cn: "spread", mail: "spread@semail.test", members: ["alice", "bob", "dave"] });
    const f = await listFixture(t);
    // bob is being moved away from here and dave lives on host b: this host lets go of both.
    await writeFile(
      f.usersFile,
      [
        "mailboxes:",
        "  - {owner: alice, address: alice@semail.test}",
        "  - {owner: bob, address: bob@semail.test, moving: b}",
        "  - {owner: dave, address: dave@semail.test, host: b}",
        "",
      ].join("\n"),
    );
    await f.daemon.reload();
    const reply = await post(f.port, "alice@semail.test", "spread@semail.test", "to those here");
    assert.equal(reply.code, 250, reply.text);
    assert.deepEqual(
      (await readMbox(f.inbox("alice"))).map((m) => m.subject),
      ["to those here"],
    );
    assert.equal((await readMbox(f.inbox("bob"))).length, 0);
    assert.equal((await readMbox(f.inbox("dave"))).length, 0);
  });

  it("starts with the directory down, serves mailboxes, and answers 4xx (not 'no such user') for what might be a list", async (t) => {
    const f = await startFixture(t, {
      users: LIST_MAILBOXES,
      inbound: { lists: { enabled: true, refresh: 60_000 } },
      // Nothing listens on port 1 of loopback: the first read fails at once.
      settings: { ldap: { url: "ldap://127.0.0.1:1", timeoutMs: 500 } },
    });
    const unknown = await post(f.port, "eve@elsewhere.test", "team@semail.test", "maybe a list");
    assert.deepEqual([unknown.code, unknown.text.slice(0, 5)], [451, "4.4.3"]);
    const role = await post(f.port, "eve@elsewhere.test", "noreply@semail.test", "to a role");
    assert.deepEqual([role.code, role.text.slice(0, 5)], [550, "5.1.1"], "a role name is never a list");
    const mailbox = await post(f.port, "eve@elsewhere.test", "alice@semail.test", "direct");
    assert.equal(mailbox.code, 250, mailbox.text);
    const relay = await post(f.port, "eve@elsewhere.test", "someone@foreign.example", "relay");
    assert.deepEqual(
      [relay.code, relay.text.slice(0, 5)],
      [550, "5.7.1"],
      "a foreign domain is still refused for good",
    );
  });

  it("does not serve a list whose address is a mailbox's: the mailbox gets the mail", async (t) => {
    await addList(slapd, { cn: "clash", mail: "dave@semail.test", members: ["alice"], post: "post: anyone" });
    const f = await listFixture(t);
    const reply = await post(f.port, "eve@elsewhere.test", "dave@semail.test", "for dave");
    assert.equal(reply.code, 250, reply.text);
    assert.deepEqual(
      (await readMbox(f.inbox("dave"))).map((m) => [m.subject, header(m, "List-Id").length]),
      [["for dave", 0]],
    );
    assert.equal((await readMbox(f.inbox("alice"))).length, 0);
  });
});
