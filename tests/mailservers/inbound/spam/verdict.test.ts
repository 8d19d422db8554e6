// Rspamd's answer read (parseAnswer), judged (verdictOf) and written as headers, and the
// sender's own spam headers removed (withoutSpamHeaders): pure functions, no Rspamd.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  RspamdUnavailable,
  parseAnswer,
  type RspamdResult,
} from "../../../../mailservers/inbound/spam/rspamd-client.ts";
import {
  rejectText,
  scannedHeaders,
  unscannedHeaders,
  verdictOf,
  withoutSpamHeaders,
} from "../../../../mailservers/inbound/spam/verdict.ts";

const result = (over: Partial<RspamdResult> = {}): RspamdResult => ({
  score: 1,
  requiredScore: 15,
  action: "no action",
  symbols: [],
  ...over,
});

test("parseAnswer reads /checkv2's JSON", () => {
  const answer = parseAnswer(
    JSON.stringify({
      is_skipped: false,
      score: 9.5,
      required_score: 15,
      action: "add header",
      symbols: { B: { name: "B", score: 1.5, options: ["x", 3] }, A: { name: "A", score: 8 } },
      messages: { smtp_message: "Go away" },
    }),
  );
  assert.deepEqual(answer, {
    score: 9.5,
    requiredScore: 15,
    action: "add header",
    symbols: [
      { name: "B", score: 1.5, options: ["x"] },
      { name: "A", score: 8, options: [] },
    ],
    smtpMessage: "Go away",
  });
});

test("parseAnswer refuses what is no verdict", () => {
  for (const text of ["<html>", "[]", '{"error":"bad"}', '{"score":1}', '{"score":1,"action":"delete"}'])
    assert.throws(() => parseAnswer(text), RspamdUnavailable, text);
});

test("verdictOf: rspamd's actions, our scores beside them, greylisting off by default", () => {
  const off = { greylist: false };
  assert.equal(verdictOf(result({ action: "reject", score: 0 }), off), "reject");
  assert.equal(verdictOf(result({ action: "add header" }), off), "junk");
  assert.equal(verdictOf(result({ action: "rewrite subject" }), off), "junk");
  assert.equal(verdictOf(result({ action: "greylist" }), off), "inbox");
  assert.equal(verdictOf(result({ action: "soft reject" }), off), "inbox");
  assert.equal(verdictOf(result({ action: "greylist" }), { greylist: true }), "defer");
  assert.equal(verdictOf(result({ score: 12 }), { greylist: false, rejectScore: 12 }), "reject");
  assert.equal(verdictOf(result({ score: 5 }), { greylist: false, junkScore: 5 }), "junk");
  assert.equal(verdictOf(result({ score: 4.9 }), { greylist: false, junkScore: 5, rejectScore: 10 }), "inbox");
});

test("scannedHeaders: the score always, X-Spam only for Junk, option text made safe", () => {
  const headers = scannedHeaders(
    result({
      score: 7.25,
      action: "add header",
      symbols: [
        { name: "Z_RULE", score: 0.25, options: ["a\r\nInjected: yes", "b;[c]"] },
        { name: "A_RULE", score: 7, options: [] },
      ],
    }),
    "junk",
  ).toString();
  assert.equal(
    headers,
    "X-Spamd-Result: default: True [7.25 / 15.00];\r\n\tA_RULE(7.00);\r\n\tZ_RULE(0.25)[a??Injected: yes,b??c?]\r\n" +
      "X-Spam-Score: 7.25\r\nX-Spam-Action: add header\r\nX-Spam: Yes\r\n",
  );
  assert.doesNotMatch(scannedHeaders(result(), "inbox").toString(), /^X-Spam: /m);
  assert.equal(
    unscannedHeaders("rspamd: ECONNREFUSED").toString(),
    "X-Spam-Scanned: no (rspamd: ECONNREFUSED); accepted unscanned\r\n",
  );
  assert.equal(
    rejectText(result({ score: 0, smtpMessage: "Gtube pattern" })),
    "Message refused as spam (score 0.00): Gtube pattern",
  );
});

test("withoutSpamHeaders removes the sender's own spam headers, folded lines included, and nothing else", () => {
  const message = Buffer.from(
    "From: a@b\r\nX-Spam-Score: -100\r\nX-Spamd-Result: default: False\r\n\tGOOD(0)\r\nSubject: hi\r\nx-spam: no\r\n\r\nX-Spam-Score: body\r\n",
  );
  assert.equal(withoutSpamHeaders(message).toString(), "From: a@b\r\nSubject: hi\r\n\r\nX-Spam-Score: body\r\n");
  const clean = Buffer.from("From: a@b\r\nSubject: hi\r\n\r\nbody\r\n");
  assert.equal(withoutSpamHeaders(clean), clean);
  const noHeaders = Buffer.from("\r\nX-Spam: Yes\r\n\r\n");
  assert.equal(withoutSpamHeaders(noHeaders), noHeaders);
});
