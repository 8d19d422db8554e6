// The journal's one translation between readable entries and the short keys on disk:
// lines written by earlier spools read back, new lines keep that format, torn or unknown
// lines are skipped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeJournal,
  decodeLine,
  encodeEntry,
  type JournalEntry,
} from "../../../../../mailservers/outbound/relay/spool/journal.ts";

/** Lines as the spool has always written them, and what they mean. */
const ON_DISK: ReadonlyArray<readonly [string, JournalEntry]> = [
  [
    '{"r":"a@example.net","s":"delivered","t":10,"x":"250 ok","c":250,"e":"2.0.0","h":"mx.example.net [192.0.2.1]"}',
    {
      kind: "reply",
      recipient: "a@example.net",
      status: "delivered",
      at: 10,
      response: "250 ok",
      code: 250,
      enhanced: "2.0.0",
      host: "mx.example.net [192.0.2.1]",
    },
  ],
  [
    '{"r":"b@example.net","s":"deferred","t":10,"n":70,"x":"451 4.3.0 later","c":451}',
    {
      kind: "reply",
      recipient: "b@example.net",
      status: "deferred",
      at: 10,
      next: 70,
      response: "451 4.3.0 later",
      code: 451,
    },
  ],
  [
    '{"r":"c@example.net","s":"bounced","t":10,"x":"451 4.3.0 later","expired":true}',
    {
      kind: "reply",
      recipient: "c@example.net",
      status: "bounced",
      at: 10,
      response: "451 4.3.0 later",
      expired: true,
    },
  ],
  [
    '{"ev":"dsn","t":11,"r":["c@example.net"],"id":"ABCDEFGHIJB1"}',
    { kind: "failure-reported", at: 11, recipients: ["c@example.net"], dsnId: "ABCDEFGHIJB1" },
  ],
  ['{"ev":"delayed","t":12,"id":"ABCDEFGHIJB2"}', { kind: "delay-reported", at: 12, dsnId: "ABCDEFGHIJB2" }],
];

describe("journal", () => {
  it("reads the short keys of existing spools into readable entries", () => {
    for (const [line, entry] of ON_DISK) assert.deepEqual(decodeLine(line), entry, line);
  });

  it("writes the same short keys, so a spool stays readable by either version", () => {
    for (const [line, entry] of ON_DISK) assert.deepEqual(JSON.parse(encodeEntry(entry)), JSON.parse(line));
  });

  it("skips a torn line and lines it does not know, keeping the rest in order", () => {
    const text = [
      ON_DISK[0]![0],
      '{"r":"x@example.net","s":"sent","t":1}',
      '{"ev":"other","t":1}',
      "42",
      ON_DISK[3]![0],
      '{"r":"b@example.net","s":"deliv',
    ].join("\n");
    // An unknown "ev" is an event this version does not act on; an unknown status is no reply.
    assert.deepEqual(
      decodeJournal(text).map((e) => e.kind),
      ["reply", "failure-reported"],
    );
  });
});
