// The queue journal (mailservers/outbound/relay/spool/journal.ts): one JSON line per event,
// appended and fsynced, replayed after a restart. Properties:
// - entries encoded, then cut anywhere (a crash mid-append), decode to exactly the entries wholly
//   written, each what was encoded: a torn line is rejected whole, never read as a shorter entry;
// - entries appended after such a crash (as the spool appends them, appendedText) are all read back too;
// - any line at all decodes to nothing or to an entry that, encoded again, decodes to itself.
import assert from "node:assert/strict";
import {
  appendedText,
  decodeJournal,
  decodeLine,
  encodeEntry,
  type JournalEntry,
} from "../../mailservers/outbound/relay/spool/journal.ts";
import { Input } from "../input.ts";

function entry(input: Input): JournalEntry {
  const at = input.int(2 ** 48);
  switch (input.int(3)) {
    case 0:
      return {
        kind: "failure-reported",
        at,
        recipients: Array.from({ length: input.int(3) }, () => input.string(30)),
        dsnId: input.string(20),
      };
    case 1:
      return { kind: "delay-reported", at, dsnId: input.string(20) };
    default: {
      const detail = {
        ...(input.bool() ? { response: input.string(60) } : {}),
        ...(input.bool() ? { code: input.int(999) } : {}),
        ...(input.bool() ? { enhanced: input.string(10) } : {}),
        ...(input.bool() ? { host: input.string(30) } : {}),
      };
      const recipient = input.string(30);
      const status = input.pick(["delivered", "bounced", "deferred"] as const);
      if (status === "deferred") return { kind: "reply", recipient, status, at, next: input.int(2 ** 48), ...detail };
      return { kind: "reply", recipient, status, at, ...(input.bool() ? { expired: true } : {}), ...detail };
    }
  }
}

/** Entries compared by meaning: key order and -0 aside. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  if (input.int(3) === 0) {
    const line = input.rest().toString("utf8");
    const decoded = decodeLine(line);
    if (decoded !== undefined)
      assert.equal(
        canonical(decodeLine(encodeEntry(decoded))),
        canonical(decoded),
        "a decoded entry encodes to itself",
      );
    return;
  }
  const first = Array.from({ length: input.int(4) }, () => entry(input));
  const text = appendedText(first, false);
  const cut = input.int(text.length);
  const torn = text.slice(0, cut);
  // Wholly written: the entry's JSON is all there (its newline may not be).
  const whole: JournalEntry[] = [];
  let at = 0;
  for (const e of first) {
    at += encodeEntry(e).length;
    if (at > cut) break;
    whole.push(e);
    at += 1;
  }
  assert.equal(canonical(decodeJournal(torn)), canonical(whole), "a torn journal reads as its whole entries");
  // After the restart, the spool appends the next entries to the same file.
  const later = Array.from({ length: input.int(3) }, () => entry(input));
  assert.equal(
    // What the spool appends (spool.ts append): it knows the file's last byte.
    canonical(decodeJournal(torn + appendedText(later, torn.length > 0 && !torn.endsWith("\n")))),
    canonical([...whole, ...later]),
    "entries appended after a torn line are read back",
  );
}
