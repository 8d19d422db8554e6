// A list with a member on another server, through the real parts: the test slapd's group,
// inbound (which stores the local copies and hands the remote one over), outbound (which lets
// its forward account send it only as the list, only to the list's remote members), a
// destination on loopback that later refuses the member, the bounces back to the list's
// bounce address, and the owner's report.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { forwardSecretOf } from "../../../../mailservers/core/forward-secret.ts";
import { createListBounceAddresses } from "../../../../mailservers/core/list-bounce-address.ts";
import { until } from "../../../../testkit/until.ts";
import { slapdForFile } from "../../../helpers/slapd.ts";
import { SmtpClient, sendMessage, simpleMessage } from "../../../helpers/smtp.ts";
import { readMbox, usersYaml } from "../fixture.ts";
import { SECRET, startForwardWorld, type ForwardWorld } from "../forward/forward-world.ts";
import { addList, changeMembers } from "./ldap-groups.ts";
import { LIST_MAILBOXES, LIST_PEOPLE } from "./list-people.ts";

const slapd = slapdForFile({ users: LIST_PEOPLE });
const BOUNCE_ADDRESS = /^team\+bounces=[A-Z2-7]{8}=[A-Z2-7]{2}@semail\.test$/;

function world(t: Parameters<typeof startForwardWorld>[0], unknown: Set<string>): Promise<ForwardWorld> {
  const ldap = slapd.settings();
  return startForwardWorld(t, {
    usersYaml: usersYaml(LIST_MAILBOXES),
    owners: LIST_MAILBOXES.map((m) => m.owner),
    unknown,
    ldap: { url: ldap.url, baseDn: ldap.baseDn, userDnTemplate: ldap.userDnTemplate },
  });
}

const post = (port: number, from: string, subject: string) =>
  sendMessage(port, { from, to: ["team@semail.test"], data: simpleMessage({ from, to: "team@semail.test", subject }) });
const subjects = async (w: ForwardWorld, owner: string) =>
  (await readMbox(path.join(w.mailRoot, owner, "INBOX"))).map((m) => m.subject ?? "");
const bouncesBack = (w: ForwardWorld) =>
  w.routed.filter((r) => r.mailFrom === "" && r.recipients.some((x) => BOUNCE_ADDRESS.test(x)));

describe("a mailing list with a member on another server", () => {
  it("sends the remote member one copy from the list's bounce address, follows LDAP, and reports a member who keeps bouncing to the owner", async (t) => {
    await addList(slapd, {
      cn: "team",
      mail: "team@semail.test",
      members: ["alice", "bob", "carol"],
      owners: ["alice"],
    });
    const unknown = new Set<string>();
    const w = await world(t, unknown);

    const first = await post(w.inboundPort, "alice@semail.test", "hello team");
    assert.equal(first.code, 250, first.text);
    // 250 came after outbound's: the copy is spooled there, on its way to carol's server.
    assert.match(first.text, /queued as/);
    assert.deepEqual(await subjects(w, "alice"), ["hello team"]);
    assert.deepEqual(await subjects(w, "bob"), ["hello team"]);
    await until(() => w.sink.messages.length === 1, "carol's copy at her server");
    const [remote] = w.sink.messages;
    assert.deepEqual(remote!.recipients, ["carol@remote.test"]);
    assert.match(remote!.mailFrom, BOUNCE_ADDRESS, "bounces go to the list, not to the poster");
    const raw = remote!.raw.toString();
    assert.match(raw, /^List-Id: "team" <team\.semail\.test>\r$/m);
    assert.match(raw, /^List-Post: <mailto:team@semail\.test>\r$/m);
    assert.match(raw, /^From: <alice@semail\.test>\r$/m, "the author's From: is kept");
    assert.match(raw, /^Subject: hello team\r$/m);

    const stranger = await post(w.inboundPort, "eve@elsewhere.test", "spam");
    assert.equal(stranger.code, 550);
    assert.match(stranger.text, /^5\.7\.1 <team@semail\.test>: only its members may post/);

    await changeMembers(slapd, "team", { add: ["dave"], remove: ["bob"] });
    // Dave may post once both daemons see the change (a refusal stores and sends nothing: retrying is safe).
    let last = stranger;
    await until(
      async () => (last = await post(w.inboundPort, "dave@semail.test", "dave joined")).code === 250,
      () => `dave's post accepted after the change (last: ${last.code} ${last.text})`,
      15_000,
      100,
    );
    assert.deepEqual(await subjects(w, "dave"), ["dave joined"]);
    assert.deepEqual(await subjects(w, "alice"), ["hello team", "dave joined"]);
    assert.deepEqual(await subjects(w, "bob"), ["hello team"], "bob left the list");
    await until(() => w.sink.messages.length === 2, "carol's second copy");
    assert.match(w.sink.messages[1]!.raw.toString(), /^Subject: dave joined\r$/m);

    // Carol's address is gone: each post now bounces, and each bounce comes back to the list.
    unknown.add("carol@remote.test");
    for (const n of [1, 2]) {
      assert.equal((await post(w.inboundPort, "alice@semail.test", `gone ${n}`)).code, 250);
      await until(() => bouncesBack(w).length === n, `bounce ${n} back at the list`);
    }
    assert.ok(
      bouncesBack(w).every((r) => r.reply.code === 250),
      "inbound took the bounces to the list's bounce address",
    );
    const report = /^List team@semail\.test: mail to carol@remote\.test keeps bouncing$/;
    assert.equal((await subjects(w, "alice")).filter((s) => report.test(s)).length, 0, "two bounces: no report yet");
    assert.equal((await post(w.inboundPort, "alice@semail.test", "gone 3")).code, 250);
    await until(() => bouncesBack(w).length === 3, "bounce 3 back at the list");
    const inbox = await readMbox(path.join(w.mailRoot, "alice", "INBOX"));
    const reports = inbox.filter((m) => report.test(m.subject ?? ""));
    assert.equal(reports.length, 1, "one report to the owner");
    const text = reports[0]!.body;
    assert.match(text, /carol@remote\.test/);
    assert.match(text, /3 times/);
    assert.match(text, /No such user/, "the last reply is named");
    // Only the owner is told; the bounces are not posts.
    assert.ok(!(await subjects(w, "dave")).some((s) => report.test(s)));
    assert.equal(w.sink.messages.filter((m) => m.mailFrom === "").length, 0, "no bounce reached anyone elsewhere");
  });

  it("takes bounces only at a signed bounce address, from the null sender; the forward account sends as a list only to its remote members", async (t) => {
    await addList(slapd, { cn: "crew", mail: "crew@semail.test", members: ["alice", "carol"], owners: ["alice"] });
    const w = await world(t, new Set());
    const bounces = createListBounceAddresses({ key: forwardSecretOf(SECRET).listBounceKey, now: Date.now });
    const signed = bounces.make("crew@semail.test");
    const dsn = (to: string) => simpleMessage({ from: "mailer-daemon@remote.test", to, subject: "x" });
    const unsigned = await sendMessage(w.inboundPort, { from: "", to: ["crew+bounces@semail.test"], data: dsn("x") });
    assert.equal(unsigned.code, 550);
    const forged = signed.replace(/=[A-Z2-7]{8}=/, "=AAAAAAAA=");
    const forgedReply = await sendMessage(w.inboundPort, { from: "", to: [forged], data: dsn(forged) });
    assert.deepEqual([forgedReply.code, forgedReply.text.slice(0, 5)], [550, "5.1.1"]);
    const notNull = await sendMessage(w.inboundPort, { from: "eve@elsewhere.test", to: [signed], data: dsn(signed) });
    assert.deepEqual([notNull.code, notNull.text.slice(0, 5)], [550, "5.7.1"]);
    // A post from a bounce address of ours is a loop, refused.
    const looped = await sendMessage(w.inboundPort, {
      from: signed,
      to: ["crew@semail.test"],
      data: dsn("crew@semail.test"),
    });
    assert.deepEqual([looped.code, looped.text.slice(0, 5)], [550, "5.4.6"]);
    // A bounce that is no DSN is stored for the owner, never dropped.
    const plain = await sendMessage(w.inboundPort, {
      from: "",
      to: [signed],
      data: simpleMessage({ from: "mailer-daemon@remote.test", to: signed, subject: "could not deliver" }),
    });
    assert.equal(plain.code, 250, plain.text);
    assert.deepEqual(await subjects(w, "alice"), ["could not deliver"]);

    // Straight at outbound as the forward account: as the list, only to the list's remote members.
    const client = await SmtpClient.connect(w.outboundPort);
    t.after(() => client.close());
    await client.command("EHLO test");
    const login = Buffer.from(`\0semail:forward\0${forwardSecretOf(SECRET).password}`).toString("base64");
    assert.equal((await client.command(`AUTH PLAIN ${login}`)).code, 235);
    assert.equal((await client.command("MAIL FROM:<crew+bounces@semail.test>")).code, 550, "unsigned");
    assert.equal((await client.command(`MAIL FROM:<${signed}>`)).code, 250);
    assert.equal((await client.command("RCPT TO:<victim@elsewhere.example>")).code, 550);
    assert.equal((await client.command("RCPT TO:<carol@remote.test>")).code, 250);
  });
});
