// The filter that removes Authentication-Results claiming our authserv-id: every other byte
// passes unchanged, however the message is cut into chunks.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, it } from "node:test";
import { ForgedResultsFilter, authservId } from "../../../../mailservers/inbound/auth/forged-results.ts";

async function filter(message: string, chunk: number): Promise<{ out: string; removed: number }> {
  const bytes = Buffer.from(message, "latin1");
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const f = new ForgedResultsFilter("MX.semail.test");
  const out = await buffer(Readable.from(parts).pipe(f));
  return { out: out.toString("latin1"), removed: f.removed };
}

const KEEP = [
  "Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000\r\n",
  "Authentication-Results: relay.example;\r\n dkim=pass header.d=x.example\r\n",
  "Authentication-Results: mx.semail.test.evil; spf=pass\r\n",
  "Subject: Authentication-Results: mx.semail.test; x\r\n",
  "X-Authentication-Results: mx.semail.test; dkim=pass\r\n",
];
const FORGED = [
  "Authentication-Results: mx.semail.test; dmarc=pass\r\n",
  "authentication-results:MX.SEMAIL.TEST;\r\n\tdkim=pass\r\n\t header.d=bank.example\r\n",
  "Authentication-Results:\r\n (a (nested) comment)\r\n mx.semail.test; spf=pass\r\n",
  'Authentication-Results: "mx.semail.test" 1; none\r\n',
  "Authentication-Results : mx.semail.test; arc=pass\n",
];
const BODY = "\r\nAuthentication-Results: mx.semail.test; in the body, kept\r\nFrom me\r\n";

describe("ForgedResultsFilter", () => {
  for (const chunk of [1, 2, 3, 7, 64, 100_000]) {
    it(`removes only our own fields, in chunks of ${chunk}`, async () => {
      const message = [
        KEEP[0],
        FORGED[0],
        KEEP[1],
        FORGED[1],
        KEEP[2],
        FORGED[2],
        KEEP[3],
        FORGED[3],
        KEEP[4],
        FORGED[4],
      ]
        .join("")
        .concat(BODY);
      const { out, removed } = await filter(message, chunk);
      assert.equal(out, KEEP.join("") + BODY);
      assert.equal(removed, FORGED.length);
    });
  }

  it("passes a message without a body, and one ending inside a forged field", async () => {
    assert.deepEqual(await filter(`${KEEP[0]}${KEEP[1]}`, 5), { out: `${KEEP[0]}${KEEP[1]}`, removed: 0 });
    assert.deepEqual(await filter(`${KEEP[0]}Authentication-Results: mx.semail.test`, 4), {
      out: KEEP[0],
      removed: 1,
    });
  });
});

describe("authservId", () => {
  it("reads the id after comments and folding, and waits for its end", () => {
    assert.equal(authservId("Authentication-Results: a.example; x", false), "a.example");
    assert.equal(authservId("Authentication-Results: (c) A.Example (d); x", false), "a.example");
    assert.equal(authservId("Authentication-Results:\r\n", false), undefined);
    assert.equal(authservId("Authentication-Results: a.exa", false), undefined);
    assert.equal(authservId("Authentication-Results: a.exa", true), "a.exa");
    assert.equal(authservId('Authentication-Results: "a\\.b"; x', false), "a.b");
    assert.equal(authservId("Authentication-Results: ; x", false), "");
  });
});
