// The apply runner: one apply at a time, requests made during an apply merged into the
// next, failures reported with their reason; and the Pulumi applier's missing-CLI message.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../lib/logger.ts";
import { UsersList } from "../../config/users-list.ts";
import { ApplyRunner, plainReason } from "../../webform/apply-runner.ts";
import { createPulumiApplier } from "../../deploy/pulumi/applier.ts";
import { PULUMI_MISSING } from "../../deploy/pulumi/command-errors.ts";
import type { Applier } from "../../config/applier.ts";
import { until } from "../../testkit/until.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

/** An applier whose applies finish only when the test releases them. */
function gatedApplier() {
  let running = 0;
  let maxRunning = 0;
  const releases: Array<() => void> = [];
  const seen: number[] = [];
  let version = 0;
  const applier: Applier = {
    name: "gated",
    async apply() {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      seen.push(version);
      await new Promise<void>((resolve) => releases.push(resolve));
      running -= 1;
    },
  };
  return {
    applier,
    seen,
    bump: () => (version += 1),
    release: () => releases.shift()?.(),
    waiting: () => releases.length,
    maxRunning: () => maxRunning,
  };
}

test("requests made during an apply are merged into one following apply", async () => {
  const gate = gatedApplier();
  const runner = new ApplyRunner({
    applier: gate.applier,
    load: async () => new UsersList([]),
    logger: silentLogger(),
  });
  assert.equal(runner.status().state, "idle");
  gate.bump();
  runner.request("first");
  assert.equal(runner.status().state, "queued");
  await until(() => gate.waiting() === 1, "the apply to wait at the gate");
  assert.equal(runner.status().state, "applying");
  for (let i = 0; i < 5; i += 1) {
    gate.bump();
    runner.request(`during ${i}`);
  }
  assert.equal(runner.status().pending, true);
  gate.release();
  await until(() => gate.waiting() === 1, "the apply to wait at the gate");
  assert.deepEqual(gate.seen, [1, 6], "the second apply saw every change made during the first");
  assert.equal(runner.status().pending, false);
  gate.release();
  await runner.idle();
  const status = runner.status();
  assert.equal(status.state, "done");
  assert.equal(status.requested, 6);
  assert.equal(status.applied, 6);
  assert.equal(gate.maxRunning(), 1, "never two applies at once");
  assert.equal(gate.seen.length, 2);
});

test("a failed apply reports its reason, and the next request tries again", async () => {
  let fail = true;
  const applier: Applier = {
    name: "flaky",
    async apply() {
      if (fail) throw new Error("zfs create failed: out of space\n    at somewhere (file.ts:1:1)");
    },
  };
  const runner = new ApplyRunner({ applier, load: async () => new UsersList([]), logger: silentLogger() });
  runner.request("one");
  await runner.idle();
  assert.equal(runner.status().state, "failed");
  assert.match(runner.status().reason ?? "", /^zfs create failed: out of space/);
  assert.equal(runner.status().applied, 0);
  fail = false;
  runner.request("two");
  await runner.idle();
  assert.equal(runner.status().state, "done");
  assert.equal(runner.status().reason, undefined);
  assert.equal(runner.status().applied, 2);
});

test("a list that cannot be read fails the apply with the reason", async () => {
  const runner = new ApplyRunner({
    applier: { name: "x", apply: async () => undefined },
    load: async () => {
      throw new Error("users.yaml: mailboxes[0].owner is required");
    },
    logger: silentLogger(),
  });
  runner.request("x");
  await runner.idle();
  assert.deepEqual(
    [runner.status().state, runner.status().reason],
    ["failed", "users.yaml: mailboxes[0].owner is required"],
  );
});

test("plainReason keeps a few short lines", () => {
  assert.equal(plainReason(new Error("a\n\n b \nc")), "a / b / c");
  assert.equal(plainReason("x".repeat(2000)).length, 600);
});

test("a missing Pulumi CLI is reported in plain words, not a stack trace", async (t) => {
  const dir = await tempDir(t, "semail-pulumi-");
  const applier = createPulumiApplier({ projectDir: dir, stack: "prod", cliRoot: join(dir, "no-pulumi-here") });
  const runner = new ApplyRunner({ applier, load: async () => new UsersList([]), logger: silentLogger() });
  runner.request("test");
  await runner.idle();
  const status = runner.status();
  assert.equal(status.state, "failed");
  assert.equal(status.reason, PULUMI_MISSING);
  assert.match(status.reason!, /Pulumi CLI is not installed/);
  assert.doesNotMatch(status.reason!, /\bat \S+ \(|ENOENT|stdout/);
});
