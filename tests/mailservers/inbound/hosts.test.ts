// Two SEMail hosts sharing a users list, each a real inbound daemon on loopback with its own
// mail root: a mailbox being moved gets 451 on both; one on the other host has its mail handed
// there (250 only after that host stored it); a mailbox that leaves a host is let go there,
// with the note `semail mailbox move` waits for.
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { describe, it } from "node:test";
import { SmtpClient, sendMessage, simpleMessage } from "../../helpers/smtp.ts";
import { until } from "../../../testkit/until.ts";
import { writeFileAtomic } from "../../../lib/durable-file.ts";
import { releaseNotePath } from "../../../config/mailbox-release.ts";
import { startInbound } from "../../../mailservers/inbound/daemon.ts";
import { usersListOptions } from "../../../config/settings.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { provisionRoot } from "./store/fixture.ts";
import { testSettings } from "./fixture.ts";
import { entry, startHostPair, usersList, type TestHost } from "./hosts-fixture.ts";

const SOW = entry("sow", "souleymane@sow.semail.test", { host: "a" });
const FROM = "alice@example.org";

async function inboxText(host: TestHost, owner: string): Promise<string> {
  return readFile(host.inbox(owner), "latin1").catch(() => "");
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The messages of an mbox text, each without its From_ line and the trace headers a host adds. */
function withoutTrace(mbox: string): string[] {
  return mbox
    .split(/^(?=From \S+ )/m)
    .filter((m) => m !== "")
    .map((m) =>
      m
        .replace(/^From .*\n/, "")
        .replace(/^(Return-Path|Delivered-To|Received|X-SEMail-Handed-On):.*\n([ \t].*\n)*/gim, ""),
    );
}

/** Opens a session and goes as far as RCPT for each of `to`; answers the client and the RCPT replies. */
async function upToRcpt(port: number, to: readonly string[]): Promise<{ client: SmtpClient; replies: number[] }> {
  const client = await SmtpClient.connect(port);
  assert.equal((await client.command("EHLO client.test")).code, 250);
  assert.equal((await client.command(`MAIL FROM:<${FROM}>`)).code, 250);
  const replies: number[] = [];
  for (const address of to) replies.push((await client.command(`RCPT TO:<${address}>`)).code);
  return { client, replies };
}

describe("inbound daemons of several hosts", () => {
  it("refuses a moving mailbox 451 4.2.1 at RCPT on every host, by its address, alias and sub-address", async (t) => {
    const pair = await startHostPair(t, {
      users: usersList(entry("ada", "ada@semail.test", { moving: "b" }), SOW),
      owners: ["ada", "sow"],
    });
    for (const host of [pair.a, pair.b])
      for (const address of ["ada@semail.test", "lovelace@semail.test", "ada+news@semail.test"]) {
        const { client, replies } = await upToRcpt(host.port, []);
        const reply = await client.command(`RCPT TO:<${address}>`);
        client.close();
        assert.equal(reply.code, 451, `${host.name} ${address}: ${reply.text}`);
        assert.equal(reply.text, `4.2.1 <${address}>: mailbox is moving to another server; try again in a few minutes`);
        assert.deepEqual(replies, []);
      }
    // Others are served as ever.
    const reply = await sendMessage(pair.a.port, {
      from: FROM,
      to: ["souleymane@sow.semail.test"],
      data: simpleMessage({ from: FROM, to: "souleymane@sow.semail.test", subject: "still here" }),
    });
    assert.equal(reply.code, 250, reply.text);
    assert.equal(await inboxText(pair.a, "ada"), "");
    assert.equal(await inboxText(pair.b, "ada"), "");
  });

  it("hands mail for a mailbox on the other host there: stored there as sent, 250 only after, 4xx while it is down", async (t) => {
    const pair = await startHostPair(t, {
      users: usersList(entry("ada", "ada@semail.test", { host: "b" }), SOW),
      owners: ["ada", "sow"],
    });
    const data = simpleMessage({
      from: FROM,
      to: "ada@semail.test",
      subject: "handed on",
      body: "From the first line.\r\n..a dot-stuffed line\r\n\r\nSome 8-bit: caf\xe9.\r\nEnd.",
    });
    // The same bytes straight to b, to compare with: a hand-on changes nothing but the trace.
    const direct = await sendMessage(pair.b.port, { from: FROM, to: ["ada@semail.test"], data });
    assert.equal(direct.code, 250, direct.text);
    const [straight] = withoutTrace(await inboxText(pair.b, "ada"));
    for (const to of ["ada@semail.test", "lovelace@semail.test", "ada+tag@semail.test"]) {
      const mark = (await inboxText(pair.b, "ada")).length;
      const reply = await sendMessage(pair.a.port, { from: FROM, to: [to], data });
      assert.equal(reply.code, 250, reply.text);
      // Read at once: the 250 came after b's, so b has it synced already.
      const stored = (await inboxText(pair.b, "ada")).slice(mark);
      assert.equal(withoutTrace(stored).length, 1, stored);
      assert.equal(withoutTrace(stored)[0], straight);
      assert.match(stored, /^X-SEMail-Handed-On: a\n/m);
      assert.match(stored, new RegExp(`^Delivered-To: ${to.replace("+", "\\+")}$`, "m"));
      assert.match(stored, new RegExp(`^Return-Path: <${FROM}>$`, "m"));
    }
    assert.equal(await inboxText(pair.a, "ada"), "", "nothing stored on a");

    await pair.b.stop();
    const down = await sendMessage(pair.a.port, { from: FROM, to: ["ada@semail.test"], data });
    assert.equal(down.code, 451, down.text);
    assert.match(down.text, /^4\.4\.1 /);
    assert.equal(await inboxText(pair.a, "ada"), "", "nothing stored on a while b is down");
  });

  it("passes the other host's refusal on, and refuses 451 4.3.0 a host the settings do not name", async (t) => {
    const pair = await startHostPair(t, {
      users: usersList(
        entry("ada", "ada@semail.test", { host: "b" }),
        entry("bob", "bob@semail.test", { host: "c" }),
        SOW,
      ),
      // No root for ada on b: b answers 450 4.2.1 at RCPT, and a passes it on.
      owners: ["sow", "bob"],
    });
    const data = simpleMessage({ from: FROM, to: "ada@semail.test", subject: "x" });
    const refused = await sendMessage(pair.a.port, { from: FROM, to: ["ada@semail.test"], data });
    assert.equal(refused.code, 450, refused.text);
    assert.match(refused.text, /^4\.2\.1 <ada@semail\.test>: mailbox is being set up/);
    const { client, replies } = await upToRcpt(pair.a.port, ["bob@semail.test"]);
    client.close();
    assert.deepEqual(replies, [451]);
  });

  it("passes a permanent refusal of the other host on as it is (550 5.1.1)", async (t) => {
    const pair = await startHostPair(t, {
      users: { a: usersList(entry("ada", "ada@semail.test", { host: "b" }), SOW), b: usersList(SOW) },
      owners: ["ada", "sow"],
    });
    const data = simpleMessage({ from: FROM, to: "ada@semail.test", subject: "unknown there" });
    const reply = await sendMessage(pair.a.port, { from: FROM, to: ["ada@semail.test"], data });
    assert.equal(reply.code, 550, reply.text);
    assert.equal(reply.text, "5.1.1 No such mailbox here");
    assert.equal(await inboxText(pair.a, "ada"), "");
  });

  it("puts a mailbox of another host in a transaction of its own (452 4.5.3), either way round", async (t) => {
    const pair = await startHostPair(t, {
      users: usersList(entry("ada", "ada@semail.test", { host: "b" }), SOW),
      owners: ["ada", "sow"],
    });
    for (const to of [
      ["ada@semail.test", "souleymane@sow.semail.test"],
      ["souleymane@sow.semail.test", "ada@semail.test"],
      ["ada@semail.test", "lovelace@semail.test"],
    ]) {
      const { client, replies } = await upToRcpt(pair.a.port, []);
      assert.equal((await client.command(`RCPT TO:<${to[0]}>`)).code, 250);
      const second = await client.command(`RCPT TO:<${to[1]}>`);
      client.close();
      assert.equal(second.code, 452, `${to.join(", ")}: ${second.text}`);
      assert.match(second.text, /^4\.5\.3 /);
      assert.deepEqual(replies, []);
    }
  });

  it("stops a hand-on that would come back: hosts whose lists disagree answer 451 4.4.6 after one hop", async (t) => {
    const pair = await startHostPair(t, {
      users: {
        a: usersList(entry("ada", "ada@semail.test", { host: "b" }), SOW),
        b: usersList(entry("ada", "ada@semail.test", { host: "a" }), SOW),
      },
      owners: ["ada", "sow"],
    });
    const data = simpleMessage({ from: FROM, to: "ada@semail.test", subject: "round and round" });
    for (const host of [pair.a, pair.b]) {
      const reply = await sendMessage(host.port, { from: FROM, to: ["ada@semail.test"], data });
      assert.equal(reply.code, 451, `${host.name}: ${reply.text}`);
      assert.match(reply.text, /^4\.4\.6 Routing loop/);
    }
    assert.equal(await inboxText(pair.a, "ada"), "");
    assert.equal(await inboxText(pair.b, "ada"), "");
  });

  it("lets go of a mailbox that starts moving: a session past RCPT gets 4xx at DATA, the note appears, and goes when it is back", async (t) => {
    const here = usersList(entry("ada", "ada@semail.test", { host: "a" }), SOW);
    const pair = await startHostPair(t, { users: here, owners: ["ada", "sow"] });
    const note = releaseNotePath(pair.a.mailRoot, "ada");
    assert.equal(await exists(note), false);
    // b has a root for ada (as after an earlier move) but the list puts ada on a: b lets go of it.
    const onB = releaseNotePath(pair.b.mailRoot, "ada");
    assert.equal(JSON.parse(await readFile(onB, "utf8")).to, "a");

    const { client, replies } = await upToRcpt(pair.a.port, ["ada@semail.test"]);
    t.after(() => client.close());
    assert.deepEqual(replies, [250]);
    const moving = usersList(entry("ada", "ada@semail.test", { host: "a", moving: "b" }), SOW);
    const startedAt = Date.now();
    await writeFileAtomic(pair.usersFile.a, moving);
    await pair.a.daemon.reload();
    const data = await client.data(simpleMessage({ from: FROM, to: "ada@semail.test", subject: "too late" }));
    assert.equal(data.code, 451, data.text);
    assert.match(data.text, /^4\.2\.1 <ada@semail\.test>: mailbox is moving/);
    assert.equal(await inboxText(pair.a, "ada"), "", "nothing written on a");

    // b follows the same file: ada is coming to b, so b no longer lets go of it (mail still gets 451 while it moves).
    await until(() => pair.b.daemon.users.current().byOwner("ada")?.moving === "b", "b to reload");
    await pair.b.daemon.reload();
    assert.equal(await exists(onB), false);

    await until(() => exists(note), "a's release note");
    const written = JSON.parse(await readFile(note, "utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(written).sort(), ["at", "host", "owner", "to"]);
    assert.equal(written.owner, "ada");
    assert.equal(written.host, "a");
    assert.equal(written.to, "b");
    const at = Date.parse(String(written.at));
    assert.ok(at >= startedAt - 1000 && at <= Date.now() + 1000, `at ${String(written.at)}`);
    assert.equal((await stat(note)).mode & 0o777, 0o600);
    assert.equal((await stat(`${pair.a.mailRoot}/.semail-moves`)).mode & 0o777, 0o700);

    // Moved: on b now, the note stays (still away), and a hands its mail there.
    await writeFileAtomic(pair.usersFile.a, usersList(entry("ada", "ada@semail.test", { host: "b" }), SOW));
    await pair.a.daemon.reload();
    await pair.b.daemon.reload();
    assert.equal(JSON.parse(await readFile(note, "utf8")).to, "b");
    const sent = simpleMessage({ from: FROM, to: "ada@semail.test", subject: "after the move" });
    const handed = await sendMessage(pair.a.port, { from: FROM, to: ["ada@semail.test"], data: sent });
    assert.equal(handed.code, 250, handed.text);
    assert.match(await inboxText(pair.b, "ada"), /Subject: after the move/);
    assert.equal(await inboxText(pair.a, "ada"), "");

    // Back on a: the note goes and a stores again.
    await writeFileAtomic(pair.usersFile.a, here);
    await pair.a.daemon.reload();
    assert.equal(await exists(note), false);
    const home = await sendMessage(pair.a.port, {
      from: FROM,
      to: ["ada@semail.test"],
      data: simpleMessage({ from: FROM, to: "ada@semail.test", subject: "home again" }),
    });
    assert.equal(home.code, 250, home.text);
    assert.match(await inboxText(pair.a, "ada"), /Subject: home again/);
  });

  it("lets go of a mailbox in local mode too, where the list is handed in by reload(list)", async (t) => {
    const dir = await tempDir(t, "semail-local-hosts-");
    const settings = testSettings(dir, {}, { hostName: "a" });
    const parse = (text: string) => parseUsersList(text, usersListOptions(settings), "handed in");
    await provisionRoot(settings.inbound.mailRoot, "ada");
    const home = parse(usersList(entry("ada", "ada@semail.test", { host: "a" })));
    const daemon = await startInbound(settings, { logger: silentLogger(), usersList: home });
    t.after(() => daemon.stop());
    const note = releaseNotePath(settings.inbound.mailRoot, "ada");
    await daemon.reload(parse(usersList(entry("ada", "ada@semail.test", { host: "a", moving: "b" }))));
    assert.deepEqual(
      { ...JSON.parse(await readFile(note, "utf8")), at: undefined },
      { owner: "ada", host: "a", to: "b", at: undefined },
    );
    await daemon.reload(home);
    assert.equal(await exists(note), false);
  });
});
