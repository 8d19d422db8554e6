// The segment format: messages accepted together share one file, so one fdatasync makes
// a whole group durable (group-commit.ts). Each record is a header line and the message:
//
//   <spool>/queue/<name>.seg   {"v":1,"id":..,"size":N,"crc":C,"from":..,"recipients":[..],"arrival":..}\n<N bytes>...
//   <spool>/queue/<name>.done  the ids of its messages that are finished, one per line
//
// A crash can leave the last records of a segment torn (never acknowledged); the size and
// the CRC-32 of each message find where the intact records end, and reading stops there.
import { crc32 } from "node:zlib";
import type { SpoolEnvelope, SpoolRecord } from "./record.ts";

export const SEGMENT_SUFFIX = ".seg";
export const DONE_SUFFIX = ".done";

/** The header line of a record, for a message of `parts`. */
export function recordHeader(id: string, envelope: SpoolEnvelope, parts: readonly Buffer[]): Buffer {
  let size = 0;
  let crc = 0;
  for (const part of parts) {
    size += part.length;
    crc = crc32(part, crc);
  }
  return Buffer.from(`${JSON.stringify({ v: 1, id, size, crc, ...envelope })}\n`);
}

/** The envelope fields of a header or a message file's first line, checked: a torn line is not an envelope. */
export function envelopeOf(raw: Record<string, unknown>): SpoolEnvelope | undefined {
  if (typeof raw.from !== "string" || !Array.isArray(raw.recipients) || typeof raw.arrival !== "number")
    return undefined;
  return {
    from: raw.from,
    recipients: raw.recipients.map(String),
    arrival: raw.arrival,
    ...(raw.user !== undefined ? { user: String(raw.user) } : {}),
    ...(raw.dsn ? { dsn: true } : {}),
  };
}

export interface ScannedSegment {
  /** The intact records, in order. */
  readonly records: SpoolRecord[];
  /** Bytes after the last intact record (a torn tail), 0 if none. */
  readonly tornBytes: number;
}

/** The records of segment `name` from its bytes. */
export function parseSegment(name: string, data: Buffer): ScannedSegment {
  const records: SpoolRecord[] = [];
  let at = 0;
  while (at < data.length) {
    const nl = data.indexOf(10, at);
    if (nl < 0) break;
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(data.subarray(at, nl).toString("utf8")) as Record<string, unknown>;
    } catch {
      break;
    }
    const envelope = envelopeOf(raw);
    const { id, size, crc } = raw;
    // A size that is not a byte count would move the reader backwards (a size of minus the header's
    // length: forever) or between bytes (regression inputs of fuzz/targets/spool-segment.ts).
    if (!envelope || typeof id !== "string" || typeof size !== "number" || typeof crc !== "number") break;
    if (!Number.isSafeInteger(size) || size < 0) break;
    const offset = nl + 1;
    if (offset + size > data.length || crc32(data.subarray(offset, offset + size)) !== crc) break;
    records.push({ id, ...envelope, offset, size, segment: name });
    at = offset + size;
  }
  return { records, tornBytes: data.length - at };
}

/** The ids a done file lists. Only whole lines count: a torn last one could be a shorter id's prefix. */
export function parseDone(text: string): Set<string> {
  const lines = text.split("\n");
  lines.pop();
  return new Set(lines.filter((line) => line.length > 0));
}
