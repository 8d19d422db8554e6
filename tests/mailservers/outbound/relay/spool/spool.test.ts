// The spool's segments: what a power loss keeps (only synced bytes) still holds every
// accepted message; a torn or corrupted record is never delivered; finished messages
// stay finished across a restart; spent segments go; large and waiting messages get
// files of their own.
import assert from "node:assert/strict";
import { fdatasync, fstatSync, readlinkSync } from "node:fs";
import { appendFile, readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import type { SpoolRecord } from "../../../../../mailservers/outbound/relay/spool/record.ts";
import { Spool } from "../../../../../mailservers/outbound/relay/spool/spool.ts";
import { until } from "../../../../../testkit/until.ts";
import { ManualClock } from "../manual-clock.ts";
import { tempSpool } from "./temp-spool.ts";

const realSync = promisify(fdatasync);
const envelope = (i: number) => ({
  from: "alice@semail.test",
  recipients: [`r${i}@example.net`],
  arrival: 1_700_000_000_000 + i,
  user: "alice",
});
const body = (i: number) => `Subject: message ${i}\r\n\r\n${"x".repeat(i * 37)}\r\n`;

async function text(spool: Spool, record: SpoolRecord): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of spool.message(record)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A fresh Spool on the same directory, as the daemon opens it after a restart. */
async function restart(dir: string, t: { after: (fn: () => Promise<void>) => void }): Promise<Spool> {
  const spool = new Spool(dir);
  t.after(() => spool.close());
  await spool.open({ clean: true });
  return spool;
}

const files = async (spool: Spool, suffix: string) => (await readdir(spool.queueDir)).filter((n) => n.endsWith(suffix));

describe("spool segments", () => {
  it("keeps every accepted message through a power loss that drops all unsynced bytes", async (t) => {
    const base = await tempSpool(t);
    // Records, per file, how long it was when each sync began: what a power loss keeps.
    const synced = new Map<string, number>();
    let syncs = 0;
    const spool = new Spool(base.dir, {
      groupCommit: {
        datasync: async (fd) => {
          const size = fstatSync(fd).size;
          const path = readlinkSync(`/proc/self/fd/${fd}`);
          syncs++;
          await realSync(fd);
          synced.set(path, Math.max(synced.get(path) ?? 0, size));
        },
      },
    });
    t.after(() => spool.close());
    await spool.open({ clean: true });
    const accepted = await Promise.all(
      Array.from({ length: 40 }, (_, i) => spool.accept(envelope(i), Readable.from([Buffer.from(body(i))]))),
    );
    assert.ok(syncs < 40, `40 concurrent accepts share their syncs (${syncs} syncs)`);
    for (const name of await files(spool, ".seg")) {
      const path = `${spool.queueDir}/${name}`;
      await truncate(path, synced.get(path) ?? 0);
    }
    const after = await restart(base.dir, t);
    assert.deepEqual(await after.ids(), accepted.map((r) => r.id).sort());
    for (const [i, record] of accepted.entries()) {
      const again = await after.read(record.id);
      assert.deepEqual(again.recipients, [`r${i}@example.net`]);
      assert.equal(again.user, "alice");
      assert.equal(await text(after, again), body(i));
    }
  });

  it("never delivers a torn or corrupted record, and appends after a restart go to a new segment", async (t) => {
    const spool = await tempSpool(t);
    const [one, two] = await Promise.all([
      spool.accept(envelope(1), Buffer.from(body(1))),
      spool.accept(envelope(2), Buffer.from(body(2))),
    ]);
    const [segment] = await files(spool, ".seg");
    const path = `${spool.queueDir}/${segment}`;
    // A crash mid-write: the last record's header and half its bytes.
    await appendFile(
      path,
      `${JSON.stringify({ v: 1, id: "TORN0000000000", size: 100, crc: 1, ...envelope(3) })}\nhalf`,
    );
    assert.deepEqual(await (await restart(spool.dir, t)).ids(), [one!.id, two!.id].sort());
    // A flipped byte inside the second message: its checksum no longer matches.
    const data = await readFile(path);
    data[two!.offset + 3]! ^= 0x20;
    await writeFile(path, data);
    const after = await restart(spool.dir, t);
    assert.deepEqual(await after.ids(), [one!.id]);
    const three = await after.accept(envelope(3), Buffer.from(body(3)));
    assert.notEqual(three.segment, one!.segment);
  });

  it("a finished message stays finished across a restart; a spent segment is deleted", async (t) => {
    const spool = new Spool((await tempSpool(t)).dir, { segmentBytes: 1024 });
    t.after(() => spool.close());
    await spool.open({ clean: true });
    const records: SpoolRecord[] = [];
    for (let i = 0; i < 12; i++) records.push(await spool.accept(envelope(i), Buffer.from(body(i))));
    assert.ok((await files(spool, ".seg")).length > 2, "small segments fill up");
    for (const record of records.slice(0, 10)) await spool.removeDurably(record.id);
    await spool.close();
    const after = await restart(spool.dir, t);
    assert.deepEqual(
      await after.ids(),
      records
        .slice(10)
        .map((r) => r.id)
        .sort(),
    );
    const segments = new Set(records.slice(10).map((r) => r.segment));
    assert.deepEqual(
      (await files(after, ".seg")).sort(),
      [...segments].map((s) => `${s}.seg`).sort(),
      "only segments with messages to deliver are left",
    );
    assert.deepEqual((await files(after, ".done")).length, segments.size);
  });

  it("delivered messages do not stay on disk: a quiet current segment whose messages are all finished goes", async (t) => {
    const clock = new ManualClock();
    const spool = new Spool((await tempSpool(t)).dir, { segmentIdleMs: 2000, clock });
    t.after(() => spool.close());
    await spool.open({ clean: true });
    const records = await Promise.all([1, 2, 3].map((i) => spool.accept(envelope(i), Buffer.from(body(i)))));
    const timeInName = clock.now().toString(36).toUpperCase().padStart(9, "0");
    assert.ok(records[0]!.segment?.startsWith(timeInName), "the segment is named from the injected clock");
    await spool.removeDurably(records[0]!.id);
    await spool.removeDurably(records[1]!.id);
    assert.equal(clock.nextTimer(), undefined, "no idle timer while a message in the segment waits");
    clock.advance(60_000);
    assert.equal((await files(spool, ".seg")).length, 1, "kept while a message in it waits");
    await spool.removeDurably(records[2]!.id);
    assert.equal(clock.nextTimer(), clock.now() + 2000, "the idle timer is armed by the last finished message");
    clock.advance(2000);
    const left = async () => [...(await files(spool, ".seg")), ...(await files(spool, ".done"))];
    await until(async () => (await left()).length === 0, "the idle segment and its done file to be deleted");
    const next = await spool.accept(envelope(4), Buffer.from(body(4)));
    assert.equal(await text(spool, next), body(4), "the next message starts a new segment");
  });

  it("a message over the segment limit, and one moved out to wait, have files of their own", async (t) => {
    const spool = new Spool((await tempSpool(t)).dir, { segmentMessageLimit: 1000 });
    t.after(() => spool.close());
    await spool.open({ clean: true });
    const head = "Received: from client.test\r\n";
    const large = await spool.accept(
      envelope(40),
      Readable.from([Buffer.from(body(40).slice(0, 600)), Buffer.from(body(40).slice(600))]),
      undefined,
      Buffer.from(head),
    );
    assert.equal(large.segment, undefined);
    assert.equal(await text(spool, large), head + body(40));
    const small = await spool.accept(envelope(2), Buffer.from(body(2)));
    assert.notEqual(small.segment, undefined);
    const moved = await spool.detach(small);
    assert.equal(moved.segment, undefined);
    assert.equal(await text(spool, small), body(2), "the old record reads the new file");
    assert.equal((await readFile(spool.msgPath(small.id), "utf8")).slice(moved.offset), body(2));
    const after = await restart(spool.dir, t);
    assert.deepEqual(await after.ids(), [large.id, small.id].sort());
    assert.equal(await text(after, await after.read(small.id)), body(2));
    assert.equal(await text(after, await after.read(large.id)), head + body(40));
  });
});
