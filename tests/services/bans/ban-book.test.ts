// Ban lengths grow by bans.growth up to bans.maxBan; an address quiet for maxBan starts again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { banLength, nextBan, withoutForgotten, type BanEntry } from "../../../services/bans/ban-book.ts";

const MIN = 60_000;
const lengths = { firstBan: 10 * MIN, growth: 3, maxBan: 120 * MIN };

test("the nth ban lasts firstBan × growth^(n-1), at most maxBan", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 50, 5000].map((n) => banLength(n, lengths) / MIN),
    [10, 30, 90, 120, 120, 120],
  );
  assert.equal(banLength(7, { ...lengths, growth: 1 }), 10 * MIN, "growth 1: every ban the same");
});

test("a remembered address's next ban is one offence more, until it has been quiet for maxBan", () => {
  const first = nextBan(new Map(), "192.0.2.7", "smtp auth failed", 0, lengths);
  assert.deepEqual(first, { address: "192.0.2.7", since: 0, until: 10 * MIN, offences: 1, reason: "smtp auth failed" });
  const book = new Map<string, BanEntry>([[first.address, first]]);
  const again = nextBan(book, first.address, "smtp auth failed", 15 * MIN, lengths);
  assert.deepEqual([again.offences, again.until], [2, 45 * MIN]);
  const later = first.until + lengths.maxBan;
  assert.equal(nextBan(book, first.address, "x", later, lengths).offences, 1, "forgiven after maxBan quiet");
  assert.equal(withoutForgotten(book, later - 1, lengths.maxBan).size, 1);
  assert.equal(withoutForgotten(book, later, lengths.maxBan).size, 0);
});
