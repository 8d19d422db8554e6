// The reports a sender gets about a queued message: a failure report (DSN) for recipients
// that bounced, and one delay notice once the message has waited `retry.delayNotice`. A
// report is spooled as a message of its own under a deterministic id, then journaled, so
// a crash in between queues it once. The DSN text itself is written by dsn.ts.
import type { Logger } from "pino";
import type { Clock } from "../../../../lib/clock.ts";
import { buildDsn, statusFor, type DsnRecipient } from "./dsn.ts";
import type { RecipientState } from "./recipient-state.ts";
import type { RetryPolicy } from "./retry.ts";
import type { SpoolRecord } from "../spool/record.ts";
import type { Spool } from "../spool/spool.ts";

export interface ReportsOptions {
  readonly spool: Spool;
  readonly clock: Clock;
  readonly retry: RetryPolicy;
  /** Our host name (Reporting-MTA, MAILER-DAEMON@...). */
  readonly hostname: string;
  readonly logger: Logger;
}

/** What reports read of a queued message, and the two counters they move. */
export interface ReportedMessage {
  readonly record: SpoolRecord;
  readonly recipients: ReadonlyMap<string, RecipientState>;
  dsnCount: number;
  delayNoticeSent: boolean;
}

/** Never a report to the null sender <>, and never a report about a report. */
export const isReportable = (record: SpoolRecord): boolean => record.from !== "" && record.dsn !== true;

/** A bounced recipient whose failure report is still to be queued. */
export const awaitsReport = (record: SpoolRecord, state: Readonly<RecipientState>): boolean =>
  state.status === "bounced" && !state.reported && isReportable(record);

function dsnRecipient(recipient: string, s: RecipientState, action: DsnRecipient["action"]): DsnRecipient {
  return {
    recipient,
    action,
    status: statusFor(s),
    ...(s.response ? { diagnostic: s.response } : {}),
    ...(s.host ? { remoteMta: s.host } : {}),
    ...(s.lastAttempt ? { lastAttempt: s.lastAttempt } : {}),
  };
}

export class Reports {
  readonly #options: ReportsOptions;

  constructor(options: ReportsOptions) {
    this.#options = options;
  }

  /**
   * Queues the reports now due for `message` and journals them. `schedule` gets each report
   * once it is spooled, before its journal line: a failing journal does not hold it back.
   */
  async send(message: ReportedMessage, schedule: (dsn: SpoolRecord) => Promise<void>): Promise<void> {
    const { record } = message;
    if (!isReportable(record)) return;
    const now = this.#options.clock.now();
    const failed = [...message.recipients].filter(([, s]) => awaitsReport(record, s));
    if (failed.length > 0) {
      const dsn = await this.#queue(
        message,
        failed.map(([rcpt, s]) => dsnRecipient(rcpt, s, "failed")),
      );
      await schedule(dsn);
      await this.#options.spool.append(record.id, [
        { kind: "failure-reported", at: now, recipients: failed.map(([rcpt]) => rcpt), dsnId: dsn.id },
      ]);
      for (const [, s] of failed) s.reported = true;
    }
    const { delayNotice, maxAge } = this.#options.retry;
    const deferred = [...message.recipients].filter(([, s]) => s.status === "deferred");
    if (delayNotice > 0 && !message.delayNoticeSent && deferred.length > 0 && now - record.arrival >= delayNotice) {
      const until = record.arrival + maxAge;
      const dsn = await this.#queue(
        message,
        deferred.map(([rcpt, s]) => ({ ...dsnRecipient(rcpt, s, "delayed"), willRetryUntil: until })),
      );
      await schedule(dsn);
      await this.#options.spool.append(record.id, [{ kind: "delay-reported", at: now, dsnId: dsn.id }]);
      message.delayNoticeSent = true;
    }
  }

  /** Spools a DSN to the sender under `<id>B<n>`: a crash before its journal line cannot queue it twice. */
  async #queue(message: ReportedMessage, recipients: DsnRecipient[]): Promise<SpoolRecord> {
    const { record } = message;
    const now = this.#options.clock.now();
    const id = `${record.id}B${message.dsnCount + 1}`;
    const text = buildDsn({
      reportingMta: this.#options.hostname,
      sender: record.from,
      queueId: record.id,
      arrival: record.arrival,
      now,
      recipients,
      originalHeaders: await this.#options.spool.headers(record),
    });
    const dsn = await this.#options.spool.accept(
      { from: "", recipients: [record.from], arrival: now, dsn: true },
      Buffer.from(text),
      id,
    );
    message.dsnCount++;
    this.#options.logger.info(
      { queueId: record.id, dsn: id, to: record.from, action: recipients[0]?.action },
      "DSN queued",
    );
    return dsn;
  }
}
