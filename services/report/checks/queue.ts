// The outbound queue, read from its spool as `semail queue list` does: how many messages
// wait, how long the oldest deferred recipient has waited, and how many bounced and wait for
// their report. A queue that grows or an old deferral is what a stuck destination (or a
// blocklisted address of ours) looks like first.
import { access } from "node:fs/promises";
import type { Settings } from "../../../config/settings.ts";
import { replay, Spool } from "../../../mailservers/outbound/relay/index.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** A recipient deferred longer than this is a warning; the queue's own lifetime makes it a bounce later. */
export const DEFERRED_WARNING_MS = 3_600_000;
export const DEFERRED_FAILURE_MS = 24 * 3_600_000;

export async function queueFindings(settings: Settings, now: Date): Promise<Finding[]> {
  const spool = new Spool(settings.outbound.spool);
  try {
    await access(spool.queueDir);
  } catch {
    return [
      fail("queue", settings.outbound.spool, "no queue there", "start the outbound daemon, or check outbound.spool"),
    ];
  }
  let messages = 0;
  let oldestDeferred: number | undefined;
  let bounced = 0;
  for (const id of await spool.ids()) {
    const record = await spool.read(id).catch(() => undefined);
    if (!record) continue; // Delivered while we read.
    messages++;
    for (const state of replay(record, await spool.journal(id)).recipients.values()) {
      if (state.status === "bounced") bounced++;
      if (state.status === "deferred" && (oldestDeferred === undefined || record.arrival < oldestDeferred))
        oldestDeferred = record.arrival;
    }
  }
  const waited = oldestDeferred === undefined ? 0 : now.getTime() - oldestDeferred;
  const detail = `${messages} message(s) queued, ${bounced} bounced recipient(s) awaiting their report, oldest deferred ${Math.round(waited / 60_000)} min`;
  const fix =
    "`semail queue list` shows each deferral's last reply; fix the destination or our address's reputation, then `semail queue flush`";
  if (waited > DEFERRED_FAILURE_MS) return [fail("queue", "outbound", detail, fix)];
  if (waited > DEFERRED_WARNING_MS) return [warn("queue", "outbound", detail, fix)];
  return [ok("queue", "outbound", detail)];
}
