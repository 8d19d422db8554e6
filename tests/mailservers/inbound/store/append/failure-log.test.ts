// A failing mailbox is logged once, not once per message: its first failure with the error,
// then, when an append there succeeds again, how many failed and for how long. Another
// mailbox failing meanwhile gets its own line.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../../../../lib/logger.ts";
import { FailureLog } from "../../../../../mailservers/inbound/store/append/failure-log.ts";
import { faultError } from "../../../../../mailservers/inbound/store/index.ts";

function recordingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n"))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger("info", "test", sink), lines };
}

test("many failed appends in one mailbox: one error line, then their count when it works again", () => {
  const { logger, lines } = recordingLogger();
  let now = 1000;
  const rootOf = (file: string) => file.split("/").slice(0, 3).join("/");
  const failures = new FailureLog(logger, rootOf, () => now);
  for (let i = 0; i < 20; i++) {
    failures.failed("/m/bob/INBOX", faultError("EIO"), "append failed, rolled back", 2);
    failures.failed("/m/bob/mail/folder", faultError("EIO"), "fsync failed, rolled back", 1);
  }
  failures.failed("/m/carol/INBOX", faultError("EIO"), "append failed, rolled back", 1);
  now = 4000;
  failures.succeeded("/m/dave/INBOX");
  failures.succeeded("/m/bob/INBOX");
  failures.succeeded("/m/bob/INBOX");

  assert.deepEqual(
    lines.map((l) => [l.level, l.root, (l.err as { code?: string } | undefined)?.code, l.failedAppends, l.failingMs]),
    [
      [50, "/m/bob", "EIO", undefined, undefined],
      [50, "/m/carol", "EIO", undefined, undefined],
      [40, "/m/bob", undefined, 60, 3000],
    ],
  );
  // A new spell of failures after the recovery is logged again.
  failures.failed("/m/bob/INBOX", faultError("ENOSPC"), "append failed, rolled back", 1);
  assert.equal(lines.length, 4);
  assert.equal((lines[3]!.err as { code?: string }).code, "ENOSPC");
});
