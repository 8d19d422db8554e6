// The spool's segment files (mailservers/outbound/relay/spool/segment.ts): records of a header
// line and a message, a torn tail after a crash. Properties:
// - records encoded, then cut anywhere (a crash mid-write) and maybe followed by zeros (a file
//   extended but not written), decode to exactly the records wholly before the cut, each one what
//   was encoded; the rest counts as torn;
// - any bytes at all decode to records that hold together: in order, inside the file, sizes that
//   are byte counts, CRCs that match; each, encoded again, decodes to itself;
// - a done file lists exactly its whole lines.
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import type { SpoolEnvelope, SpoolRecord } from "../../mailservers/outbound/relay/spool/record.ts";
import { parseDone, parseSegment, recordHeader } from "../../mailservers/outbound/relay/spool/segment.ts";
import { Input } from "../input.ts";

const NAME = "S0001";

function envelope(input: Input): SpoolEnvelope {
  const recipients = Array.from({ length: input.int(3) }, () => input.string(40));
  return {
    from: input.string(40),
    recipients,
    arrival: input.int(2 ** 48),
    ...(input.bool() ? { user: input.string(20) } : {}),
    ...(input.bool() ? { dsn: true } : {}),
  };
}

function encodedRecords(input: Input) {
  const records: { record: SpoolRecord; start: number; end: number }[] = [];
  const parts: Buffer[] = [];
  let at = 0;
  const count = input.int(4);
  for (let i = 0; i < count; i++) {
    const id = input.string(40);
    const env = envelope(input);
    const body = input.chunk(200);
    const header = recordHeader(id, env, [body]);
    parts.push(header, body);
    const start = at;
    const offset = at + header.length;
    at = offset + body.length;
    records.push({ record: { id, ...env, offset, size: body.length, segment: NAME }, start, end: at });
  }
  return { data: Buffer.concat(parts), records };
}

function checkConsistent(data: Buffer): void {
  const { records, tornBytes } = parseSegment(NAME, data);
  let end = 0;
  for (const r of records) {
    assert.ok(Number.isSafeInteger(r.size) && r.size >= 0, `a size is a byte count: ${r.size}`);
    assert.ok(Number.isSafeInteger(r.offset) && r.offset > end, "records are in order, after their header");
    assert.ok(r.offset + r.size <= data.length, "a record lies inside the file");
    const body = data.subarray(r.offset, r.offset + r.size);
    const { id, offset: _offset, size: _size, segment: _segment, ...env } = r;
    const again = Buffer.concat([recordHeader(id, env, [body]), body]);
    const back = parseSegment(NAME, again);
    assert.equal(back.tornBytes, 0, "a record encoded again is whole");
    assert.deepEqual(
      back.records.map(({ offset: _o, ...rest }) => rest),
      [{ ...env, id, size: r.size, segment: NAME }],
      "a record encoded again decodes to itself",
    );
    assert.equal(crc32(body), crc32(again.subarray(again.length - r.size)));
    end = r.offset + r.size;
  }
  assert.equal(tornBytes, data.length - end, "what follows the last record is torn");
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const mode = input.int(2);
  if (mode === 0) {
    checkConsistent(input.rest());
    return;
  }
  if (mode === 1) {
    const ids = Array.from({ length: input.int(5) }, () => input.string(20).replaceAll("\n", ""));
    const torn = input.string(20).replaceAll("\n", "");
    const text = `${ids.map((id) => `${id}\n`).join("")}${torn}`;
    assert.deepEqual(parseDone(text), new Set(ids.filter((id) => id !== "")), "whole lines only");
    return;
  }
  const { data: whole, records } = encodedRecords(input);
  const cut = input.int(whole.length);
  const zeros = input.bool() ? input.int(600) : 0;
  const torn = Buffer.concat([whole.subarray(0, cut), Buffer.alloc(zeros)]);
  // A record survives when its bytes are all there as written (zeros where zeros were written count).
  const kept: typeof records = [];
  for (const r of records) {
    if (r.end > torn.length || !torn.subarray(r.start, r.end).equals(whole.subarray(r.start, r.end))) break;
    kept.push(r);
  }
  const scanned = parseSegment(NAME, torn);
  assert.deepEqual(
    scanned.records,
    kept.map((r) => r.record),
    "the records wholly written, each as encoded",
  );
  assert.equal(scanned.tornBytes, torn.length - (kept.at(-1)?.end ?? 0), "the rest is torn");
  checkConsistent(torn);
}
