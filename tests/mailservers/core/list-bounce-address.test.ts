// A list's bounce address: signed, so only ours verify; it names its list; it stops working when old.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createListBounceAddresses } from "../../../mailservers/core/list-bounce-address.ts";

const DAY = 86_400_000;
const key = Buffer.from("k".repeat(32));

test("a bounce address of ours names its list; a forged, foreign-keyed or too old one does not", () => {
  let now = Date.parse("2027-03-01T00:00:00Z");
  const ours = createListBounceAddresses({ key, now: () => now });
  const address = ours.make("team@semail.test");
  assert.match(address, /^team\+bounces=[A-Z2-7]{8}=[A-Z2-7]{2}@semail\.test$/);
  assert.equal(ours.listOf(address), "team@semail.test");
  assert.equal(ours.listOf(address.toLowerCase()), "team@semail.test", "a host that folds case");
  assert.equal(ours.listOf(address.replace("team+", "other+")), undefined, "signed for another list");
  assert.equal(ours.listOf(address.replace(/=[A-Z2-7]{8}=/, "=AAAAAAAA=")), undefined);
  assert.equal(ours.listOf("team+bounces@semail.test"), undefined);
  assert.equal(ours.looksLike("team+bounces@semail.test"), false);
  assert.equal(ours.looksLike(address), true);
  const theirs = createListBounceAddresses({ key: Buffer.from("x".repeat(32)), now: () => now });
  assert.equal(theirs.listOf(address), undefined);
  now += 21 * DAY;
  assert.equal(ours.listOf(address), "team@semail.test", "still within 21 days");
  now += DAY;
  assert.equal(ours.listOf(address), undefined, "too old");
});
