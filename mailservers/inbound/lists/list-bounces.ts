// Bounces to a list's bounce address (core/list-bounce-address.ts), the envelope sender of its
// copies to members on other servers. Taken only with the null sender, alone in its transaction;
// its DSN's failed recipients that are the list's remote members now are counted
// (bounce-counts.ts), and one that reaches inbound.lists.bounceReport failures within
// inbound.lists.bounceWindow is reported to the list's owners (bounce-report.ts), then counted
// afresh. A bounce that is no DSN we can read goes to the owners as it is, as Mailman does:
// nothing sent to a list is dropped unseen. A DSN about someone who is no remote member (left
// the list since, or never was) is logged and let go.
import path from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { MailingList } from "../../../config/mailing-lists.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { listMembers } from "../../core/list-members.ts";
import type { Envelope } from "../../core/types.ts";
import { holdMessage } from "../auth/held-message.ts";
import type { BounceCounts } from "./bounce-counts.ts";
import { reportTargets, storeBounceReport, type BounceReportOptions } from "./bounce-report.ts";
import { dsnFailures } from "./dsn-failures.ts";

export interface ListBouncesOptions {
  readonly counts: BounceCounts;
  /** Failures within the window that make a report. */
  readonly threshold: number;
  readonly report: BounceReportOptions;
  readonly users: () => UsersList;
  readonly managedDomain: string;
  /** Where a large bounce waits while it is read twice. */
  readonly tempDir: string;
  readonly logger: Logger;
}

/** Reads one bounce for `list`; resolves with the 250 text; a store failure goes to `reply` (its 4xx). */
export type ReceiveBounce = (
  envelope: Envelope,
  list: MailingList,
  message: Readable,
  reply: (error: unknown) => never,
) => Promise<string>;

export function createBounceReceiver(options: ListBouncesOptions): ReceiveBounce {
  const { counts, logger } = options;
  let sequence = 0;
  return async (envelope, list, message, reply) => {
    const log = logger.child({ id: envelope.id, list: list.address });
    const held = await holdMessage(message, path.join(options.tempDir, `bounce-${process.pid}-${++sequence}`));
    try {
      const failures = await dsnFailures(held.stream());
      if (failures === undefined) {
        const targets = reportTargets(list, options.users(), options.report.admin);
        await options.report.store.deliver(envelope, targets, held.stream()).catch(reply);
        log.info(
          { owners: targets.map((t) => t.owner) },
          "a bounce that is no readable DSN: stored for the list's owners",
        );
        return `Ok: stored for the list's owners as ${envelope.id}`;
      }
      const remote = new Set(listMembers(list, options.users(), options.managedDomain).remote);
      for (const failure of failures) {
        if (!remote.has(failure.recipient)) {
          log.info(
            { member: failure.recipient },
            "bounce for an address that is no remote member of the list; ignored",
          );
          continue;
        }
        const times = await counts.record(list.address, failure.recipient, failure.reply).catch(reply);
        log.info({ member: failure.recipient, times, reply: failure.reply }, "list member bounced");
        if (times < options.threshold) continue;
        const owners = await storeBounceReport(options.report, list, {
          member: failure.recipient,
          failures: times,
          reply: failure.reply,
        }).catch(reply);
        await counts.clear(list.address, failure.recipient).catch(reply);
        log.warn(
          { member: failure.recipient, times, owners: owners.map((o) => o.owner) },
          "list member keeps bouncing: reported to the owners",
        );
      }
      if (failures.length === 0) log.info("a DSN with no failed recipient (a delay notice); nothing to count");
      return `Ok: bounce counted (${envelope.id})`;
    } finally {
      await held.release();
    }
  };
}
