// `semail report` for the administrators' page: the same checks (services/report), run with
// the form's settings, users list, directory and a resolver, and kept for a minute so that
// page views do not ask the DNS, the directory and every mailbox's files each time.
import type { Resolver } from "node:dns/promises";
import type { Directory } from "../config/directory.ts";
import type { Settings } from "../config/settings.ts";
import type { UsersList } from "../config/users-list.ts";
import { reportResolver } from "../services/report/checks/dns.ts";
import { runReport, type Report } from "../services/report/report.ts";

/** How long one report is shown before the next page view runs the checks again. */
export const REPORT_TTL_MS = 60_000;

export interface AdminReportOptions {
  readonly settings: Settings;
  readonly directory: Directory;
  /** The users list as it is now. */
  readonly users: () => Promise<UsersList>;
  /** Default: the report's own (outbound.delivery.resolver, else inbound.resolver, else the system's). */
  readonly resolver?: Resolver;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
}

/** The latest report, run again once it is older than REPORT_TTL_MS; concurrent askers share one run. */
export type AdminReport = () => Promise<Report>;

export function cachedAdminReport(options: AdminReportOptions): AdminReport {
  const resolver = options.resolver ?? reportResolver(options.settings);
  let kept: { readonly at: number; readonly report: Promise<Report> } | undefined;
  return () => {
    const now = options.clock();
    if (kept === undefined || now - kept.at >= REPORT_TTL_MS) {
      const report = options
        .users()
        .then((users) =>
          runReport({ settings: options.settings, users, directory: options.directory, resolver, now: new Date(now) }),
        );
      const entry = { at: now, report };
      kept = entry;
      // A run that failed as a whole is not kept: the next view tries again.
      report.catch(() => {
        if (kept === entry) kept = undefined;
      });
    }
    return kept.report;
  };
}
