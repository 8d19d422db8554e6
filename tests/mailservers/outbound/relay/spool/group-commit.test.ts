// Group commit: appends made together share one fdatasync, none resolves before the sync
// that carries it, and a failed round is cut off and refused, never half-kept.
import assert from "node:assert/strict";
import { fdatasync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { it } from "node:test";
import { promisify } from "node:util";
import { GroupCommitFile } from "../../../../../mailservers/outbound/relay/spool/group-commit.ts";
import { type AfterHook, tempDir } from "../../../../../testkit/temp-dir.ts";
import { until } from "../../../../../testkit/until.ts";

const realSync = promisify(fdatasync);

async function tempFile(t: AfterHook): Promise<string> {
  return join(await tempDir(t, "semail-group-commit-"), "file");
}

it("fifty appends made together share one fdatasync and land in order", async (t) => {
  let syncs = 0;
  const file = await GroupCommitFile.create(await tempFile(t), {
    datasync: (fd) => {
      syncs++;
      return realSync(fd);
    },
  });
  t.after(() => file.close());
  const lines = Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i}\n`));
  const offsets = await Promise.all(lines.map((line) => file.append([line])));
  assert.equal(syncs, 1);
  const text = await readFile(file.path, "utf8");
  assert.equal(text, lines.join(""));
  for (const [i, offset] of offsets.entries())
    assert.equal(text.slice(offset, offset + lines[i]!.length), lines[i]!.toString());
  // One more, later: a round of its own.
  await file.append([Buffer.from("last\n")]);
  assert.equal(syncs, 2);
});

it("resolves an append only once the sync that carries it is done; appends meanwhile wait for the next round", async (t) => {
  // No sleeps: the order of events says what waited for what.
  const held: Array<() => void> = [];
  const events: string[] = [];
  const file = await GroupCommitFile.create(await tempFile(t), {
    datasync: async (fd) => {
      await new Promise<void>((release) => held.push(release));
      await realSync(fd);
    },
  });
  t.after(() => file.close());
  const first = file.append([Buffer.from("one\n")]).then(() => events.push("first done"));
  await until(() => held.length === 1, "the first round syncing");
  const second = file.append([Buffer.from("two\n")]).then(() => events.push("second done"));
  events.push("first sync released");
  held.shift()!();
  await first;
  await until(() => held.length === 1, "the second round syncing");
  events.push("second sync released");
  held.shift()!();
  await second;
  assert.deepEqual(events, ["first sync released", "first done", "second sync released", "second done"]);
});

it("a failed sync rejects its round and every later append, and cuts the round off the file", async (t) => {
  let fail = false;
  const file = await GroupCommitFile.create(await tempFile(t), {
    datasync: (fd) =>
      fail ? Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })) : realSync(fd),
  });
  t.after(() => file.close());
  await file.append([Buffer.from("kept\n")]);
  fail = true;
  const results = await Promise.allSettled([
    file.append([Buffer.from("lost 1\n")]),
    file.append([Buffer.from("lost 2\n")]),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  assert.equal(file.usable, false);
  await assert.rejects(file.append([Buffer.from("after\n")]), /EIO/);
  assert.equal(await readFile(file.path, "utf8"), "kept\n");
  assert.equal((await stat(file.path)).size, 5);
});
