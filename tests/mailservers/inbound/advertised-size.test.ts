// What EHLO's SIZE says on the MX listeners: the best any mailbox takes now, capped by
// inbound.maxMessageSize, looked up again once old; and the configured limit when no
// mailbox takes anything (full or not mounted: temporary, answered per recipient).
import assert from "node:assert/strict";
import { test } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { createAdvertisedSize } from "../../../mailservers/inbound/advertised-size.ts";

const LIMIT = 50 * 1024 ** 2;

function sizes(rooms: Map<string, number>, asked: string[] = [], now = { ms: 0 }) {
  return createAdvertisedSize({
    limit: LIMIT,
    mailboxes: () => [...rooms.keys()].map((owner) => ({ owner, quota: 1 })),
    largestMessage: async (owner) => {
      asked.push(owner);
      const room = rooms.get(owner)!;
      if (room < 0) throw new Error("statfs failed");
      return room;
    },
    logger: silentLogger(),
    maxAgeMs: 1000,
    clock: () => now.ms,
  });
}

test("the best mailbox's room, never above the limit", async () => {
  const best = sizes(
    new Map([
      ["bob", 1000],
      ["carol", 27_000_000],
      ["dave", -1],
    ]),
  );
  await best.refresh();
  assert.equal(best.current(), 27_000_000, "a mailbox that cannot be asked is skipped");
  const capped = sizes(new Map([["bob", LIMIT * 3]]));
  await capped.refresh();
  assert.equal(capped.current(), LIMIT);
});

test("no mailbox takes anything now: the configured limit, not a SIZE that turns a full mailbox into a bounce", async () => {
  const none = sizes(
    new Map([
      ["bob", 0],
      ["carol", 0],
    ]),
  );
  await none.refresh();
  assert.equal(none.current(), LIMIT);
});

test("stops asking once a mailbox takes the largest message allowed", async () => {
  const asked: string[] = [];
  const early = sizes(
    new Map([
      ["bob", LIMIT],
      ["carol", 5],
      ["dave", 7],
    ]),
    asked,
  );
  await early.refresh();
  assert.deepEqual(asked, ["bob"]);
});

test("an old figure is used once more while a new look runs; the next EHLO has the new one", async () => {
  const rooms = new Map([["bob", 20_000_000]]);
  const now = { ms: 0 };
  const size = sizes(rooms, [], now);
  await size.refresh();
  rooms.set("bob", 1_000_000);
  now.ms = 500;
  assert.equal(size.current(), 20_000_000, "still fresh");
  now.ms = 1500;
  assert.equal(size.current(), 20_000_000, "old: answered at once, looked up behind");
  await size.refresh();
  assert.equal(size.current(), 1_000_000);
});
