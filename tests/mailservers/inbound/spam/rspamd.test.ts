// The inbound daemon over SMTP with a real Rspamd on loopback (bench/memory/rspamd.ts, the
// "minimal" configuration: GTUBE, and SEMAIL_TEST_JUNK for a Subject with "[junk-test]"):
// refused with nothing stored, into Junk, into INBOX, and accepted unscanned when Rspamd is
// stopped or does not answer; without inbound.rspamd, no spam headers at all.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { JUNK_FOLDER } from "../../../../mailservers/inbound/store/index.ts";
import { GTUBE, JUNK_MARKER, startRspamd, type RunningRspamd } from "../../../../bench/memory/rspamd.ts";
import { tempDir, tempDirForSuite } from "../../../../testkit/temp-dir.ts";
import { sendMessage, simpleMessage } from "../../../helpers/smtp.ts";
import { readMbox, startFixture, type InboundFixture, type ParsedMessage } from "../fixture.ts";

const TO = "souleymane@sow.semail.test";
const FROM = "sender@example.org";

const headers = (m: ParsedMessage, name: string) =>
  m.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

async function fileText(file: string): Promise<string> {
  return readFile(file, "utf8").catch(() => "");
}

/** Every folder file under the owner's mail/ (the pair folders and Junk). */
async function folders(fixture: InboundFixture, owner: string): Promise<string[]> {
  return (await readdir(path.join(fixture.mailRoot, owner, "mail")).catch(() => [])).map(String).sort();
}

async function send(fixture: InboundFixture, subject: string, body = "Hello.", extra: readonly string[] = []) {
  return sendMessage(fixture.port, {
    from: FROM,
    to: [TO],
    data: simpleMessage({ from: FROM, to: TO, subject, body, headers: extra }),
  });
}

async function inboundWith(t: TestContext, rspamd: Record<string, unknown> | undefined): Promise<InboundFixture> {
  return startFixture(t, rspamd ? { inbound: { rspamd } } : {});
}

describe("inbound with a real rspamd", () => {
  const dir = tempDirForSuite("semail-rspamd-");
  let rspamd: RunningRspamd;
  before(async () => {
    rspamd = await startRspamd({ dir: dir.path, config: "minimal" });
  });
  after(() => rspamd?.stop());

  test("GTUBE is refused with 550 5.7.1 and nothing is stored", async (t) => {
    const fixture = await inboundWith(t, { url: rspamd.url });
    const reply = await send(fixture, "test", `This is spam.\r\n${GTUBE}\r\n`);
    assert.equal(reply.code, 550, reply.text);
    assert.match(reply.text, /^5\.7\.1 Message refused as spam/);
    assert.equal(await fileText(fixture.inbox("sow")), "");
    assert.deepEqual(await folders(fixture, "sow"), []);
  });

  test("above add_header: delivered into Junk only, with the score", async (t) => {
    const fixture = await inboundWith(t, { url: rspamd.url });
    const reply = await send(fixture, `buy now ${JUNK_MARKER}`);
    assert.equal(reply.code, 250, reply.text);
    assert.equal(await fileText(fixture.inbox("sow")), "");
    assert.deepEqual(await folders(fixture, "sow"), [JUNK_FOLDER]);
    const [message, ...more] = await readMbox(path.join(fixture.mailRoot, "sow", "mail", JUNK_FOLDER));
    assert.equal(more.length, 0);
    assert.equal(message!.subject, `buy now ${JUNK_MARKER}`);
    assert.deepEqual(headers(message!, "X-Spam"), ["Yes"]);
    assert.deepEqual(headers(message!, "X-Spam-Action"), ["add header"]);
    const [score] = headers(message!, "X-Spam-Score");
    assert.ok(Number(score) >= 8, `score ${score}`);
    assert.match(
      headers(message!, "X-Spamd-Result")[0]!,
      /^default: True \[\d+\.\d\d \/ 15\.00\];.*SEMAIL_TEST_JUNK\(8\.00\)/s,
    );
  });

  test("a clean message lands in INBOX with the score; a score the sender wrote is removed", async (t) => {
    const fixture = await inboundWith(t, { url: rspamd.url });
    const reply = await send(fixture, "lunch?", "Hello.", ["X-Spam-Score: -100", "X-Spam: No"]);
    assert.equal(reply.code, 250, reply.text);
    const [message, ...more] = await readMbox(fixture.inbox("sow"));
    assert.equal(more.length, 0);
    assert.equal(message!.subject, "lunch?");
    const scores = headers(message!, "X-Spam-Score");
    assert.equal(scores.length, 1);
    assert.ok(Number(scores[0]) < 6, `score ${scores[0]}`);
    assert.deepEqual(headers(message!, "X-Spam"), []);
    assert.deepEqual(headers(message!, "X-Spam-Action"), ["no action"]);
    assert.match(headers(message!, "X-Spamd-Result")[0]!, /^default: False \[/);
    assert.ok(!(await folders(fixture, "sow")).includes(JUNK_FOLDER));
  });

  test("a rejectScore of our own, below rspamd's reject: refused too", async (t) => {
    const fixture = await inboundWith(t, { url: rspamd.url, rejectScore: 7 });
    const reply = await send(fixture, `buy now ${JUNK_MARKER}`);
    assert.equal(reply.code, 550, reply.text);
    assert.equal(await fileText(fixture.inbox("sow")), "");
    assert.deepEqual(await folders(fixture, "sow"), []);
  });
});

describe("inbound when rspamd cannot answer", () => {
  test("rspamd stopped: accepted into INBOX, with a header saying it was not scanned", async (t) => {
    const stopped = await startRspamd({ dir: await tempDir(t, "semail-rspamd-"), config: "minimal" });
    await stopped.stop();
    const fixture = await inboundWith(t, { url: stopped.url, timeout: "2s" });
    const reply = await send(fixture, "while it was down");
    assert.equal(reply.code, 250, reply.text);
    const [message] = await readMbox(fixture.inbox("sow"));
    assert.equal(message!.subject, "while it was down");
    assert.match(headers(message!, "X-Spam-Scanned")[0]!, /^no \(rspamd: ECONNREFUSED\); accepted unscanned$/);
    assert.deepEqual(headers(message!, "X-Spam-Score"), []);
  });

  test("rspamd silent: accepted after the timeout, unscanned", async (t) => {
    // Takes the request and never answers.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      silent.closeAllConnections();
      silent.close();
    });
    const { port } = silent.address() as AddressInfo;
    const fixture = await inboundWith(t, { url: `http://127.0.0.1:${port}`, timeout: "300ms" });
    const reply = await send(fixture, "slow day");
    assert.equal(reply.code, 250, reply.text);
    const [message] = await readMbox(fixture.inbox("sow"));
    assert.match(headers(message!, "X-Spam-Scanned")[0]!, /^no \(rspamd: no answer within 300 ms\)/);
  });

  test("larger than maxSize: not sent to rspamd, accepted whole and unscanned", async (t) => {
    const fixture = await inboundWith(t, { url: "http://127.0.0.1:9", maxSize: "1KiB" });
    const body = `${"0123456789abcdef".repeat(8)}\r\n`.repeat(40);
    const reply = await send(fixture, "big one", body);
    assert.equal(reply.code, 250, reply.text);
    const [message] = await readMbox(fixture.inbox("sow"));
    assert.match(headers(message!, "X-Spam-Scanned")[0]!, /^no \(larger than 1024 bytes\)/);
    const lines = (text: string) => text.replace(/\r\n/g, "\n").trimEnd();
    assert.equal(lines(message!.body), lines(body));
  });

  test("without inbound.rspamd: no spam headers", async (t) => {
    const fixture = await inboundWith(t, undefined);
    assert.equal((await send(fixture, "plain")).code, 250);
    const [message] = await readMbox(fixture.inbox("sow"));
    for (const name of ["X-Spam-Score", "X-Spamd-Result", "X-Spam-Scanned", "X-Spam-Action"])
      assert.deepEqual(headers(message!, name), [], name);
  });
});
