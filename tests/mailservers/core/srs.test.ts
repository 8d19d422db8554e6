// SRS addresses: made for our domain, turned back only when ours, unforged and young enough.
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../../config/settings.ts";
import { forwardSecretOf, isForwardPassword, readForwardSecret } from "../../../mailservers/core/forward-secret.ts";
import { createSrs } from "../../../mailservers/core/srs.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const DAY = 86_400_000;
const key = forwardSecretOf("a".repeat(40)).srsKey;

test("a rewritten sender is at our domain, encodes the original, and reverses to it, whatever the case", () => {
  const now = { at: Date.parse("2027-03-01T10:00:00Z") };
  const srs = createSrs({ key, domain: "semail.email", now: () => now.at });
  const address = srs.forward("Alice.B@Origin.Example");
  assert.match(address, /^SRS0=[A-Z2-7]{8}=[A-Z2-7]{2}=origin\.example=Alice\.B@semail\.email$/);
  assert.equal(srs.reverse(address), "Alice.B@origin.example");
  assert.equal(srs.reverse(address.toLowerCase()), "alice.b@origin.example", "a host that folds case");
  assert.equal(srs.forward(""), "", "the null sender stays null");
  now.at += 21 * DAY;
  assert.equal(srs.reverse(address), "Alice.B@origin.example", "21 days on");
  now.at += DAY;
  assert.equal(srs.reverse(address), undefined, "22 days on");
});

test("forged, foreign and other domains' SRS addresses do not reverse", () => {
  const srs = createSrs({ key, domain: "semail.email", now: () => Date.parse("2027-03-01T10:00:00Z") });
  const address = srs.forward("alice@origin.example");
  const other = createSrs({ key: forwardSecretOf("b".repeat(40)).srsKey, domain: "semail.email", now: Date.now });
  assert.equal(srs.reverse(address.replace("=origin.example=", "=evil.example=")), undefined);
  assert.equal(srs.reverse(address.replace("=alice@", "=bob@")), undefined);
  assert.equal(srs.reverse(address.replace("@semail.email", "@other.example")), undefined);
  assert.equal(other.reverse(address), undefined, "another secret");
  assert.equal(srs.reverse("alice@semail.email"), undefined);
});

test("the forward secret file: 0600 and long enough, or start-up stops naming the setting", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "secret");
  await writeFile(file, `${"s".repeat(40)}\n`, { mode: 0o600 });
  const secret = await readForwardSecret(file);
  assert.ok(isForwardPassword(secret.password, secret));
  assert.ok(!isForwardPassword(`${secret.password}x`, secret));
  assert.notEqual(secret.password, secret.srsKey.toString("hex"), "two keys, not one");
  await chmod(file, 0o640);
  await assert.rejects(
    readForwardSecret(file),
    (e: Error) => e instanceof ConfigError && /outbound\.forwardSecretFile: .* chmod 600/.test(e.message),
  );
  await writeFile(path.join(dir, "short"), "short", { mode: 0o600 });
  await assert.rejects(readForwardSecret(path.join(dir, "short")), /holds 5 characters; write at least 32/);
});
