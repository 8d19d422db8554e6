// `semail report --mail`: the report, and the traffic summary when asked, as a message in the
// admin mailbox (where postmaster@ goes), stored straight through the mbox store as the
// expiry warnings are (mailservers/inbound/notices.ts). Not through SMTP: the report matters
// most when a daemon is down, and a message from ourselves to ourselves would meet the spam
// and DMARC checks meant for strangers. The store must share the inbound daemon's process
// namespace (on the VM the unit runs with --pid container:semail-inbound): its crash recovery
// takes markers of writers it cannot see for dead ones.
import { pino } from "pino";
import type { Settings } from "../config/settings.ts";
import type { UsersList } from "../config/users-list.ts";
import { createLogger } from "../lib/logger.ts";
import type { Report } from "../services/report/report.ts";
import { trafficHeadline, type TrafficSummary } from "../services/report/traffic/traffic-summary.ts";
import { rfc5322Date } from "../mailservers/core/received.ts";
import { storeNotice } from "../mailservers/inbound/notices.ts";
import { adminMailbox } from "../mailservers/inbound/recipients.ts";
import { createMboxStore } from "../mailservers/inbound/store/index.ts";

export interface ReportMail {
  readonly subject: string;
  /** The body: plain text, LF line ends. */
  readonly body: string;
  readonly now: Date;
}

/** "SEMail report mx.example.org 2026-12-08: WARN (1 WARN, 12 OK; 40 received, ...)": the gist in the list of mail. */
export function reportSubject(report: Report, hostname: string, traffic?: TrafficSummary): string {
  const counts = (["FAIL", "WARN", "OK"] as const)
    .map((status) => [status, report.findings.filter((f) => f.status === status).length] as const)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`);
  const gist = [counts.join(", "), ...(traffic ? [trafficHeadline(traffic)] : [])].join("; ");
  return `SEMail report ${hostname} ${report.at.slice(0, 10)}: ${report.status} (${gist})`;
}

/** Stores the report in the admin mailbox; rejects with the store's error. */
export async function mailReport(settings: Settings, users: UsersList, mail: ReportMail): Promise<void> {
  const postmaster = `postmaster@${settings.managedDomain}`;
  const { owner, quota } = adminMailbox(users, settings.inbound.adminOwner, settings.defaultMailboxSize);
  const store = createMboxStore({
    mailRoot: settings.inbound.mailRoot,
    hostname: settings.hostname,
    // Standard error: standard output carries the report itself.
    logger: createLogger(settings.log.level, "semail-report", pino.destination(2)),
    minFreeSpace: settings.inbound.minFreeSpace,
    lockTimeoutMs: settings.inbound.lockTimeout,
  });
  try {
    await storeNotice(store, {
      kind: "report",
      hostname: settings.hostname,
      now: mail.now.getTime(),
      targets: [{ owner, quota, recipient: postmaster }],
      text: (id) => reportMessage(mail, postmaster, settings.hostname, id),
    });
  } finally {
    await store.close();
  }
}

function reportMessage(mail: ReportMail, postmaster: string, hostname: string, id: string): string {
  return [
    `From: SEMail <${postmaster}>`,
    `To: <${postmaster}>`,
    `Subject: ${mail.subject}`,
    `Date: ${rfc5322Date(mail.now)}`,
    `Message-ID: <report.${id}@${hostname}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "Auto-Submitted: auto-generated",
    "",
    ...mail.body.split("\n"),
  ].join("\r\n");
}
