// The stack's setting of the daily report (issue 25 §3): when the VM mails `semail report`
// with the day's traffic to the postmaster (components/report-schedule.ts), or "" for never.

import { isOnCalendar } from "./systemd-calendar.ts";

/** Setting name → [default, description], as SETTINGS in stack-config.ts. */
export const REPORT_SETTINGS = {
  reportSchedule: [
    "daily",
    "When the VM stores `semail report` with the last day's traffic in the admin mailbox (postmaster@): a systemd OnCalendar such as daily or *-*-* 06:00; empty for never.",
  ],
} as const;

export interface ReportStackSettings {
  /** A systemd OnCalendar; "" for no report. */
  readonly reportSchedule: string;
}

/** Parses the raw value (trimmed; the default where unset); every problem names the setting. */
export function parseReportStackSettings(raw: Readonly<Record<keyof typeof REPORT_SETTINGS, string>>): {
  readonly settings: ReportStackSettings;
  readonly problems: string[];
} {
  const ok = raw.reportSchedule === "" || isOnCalendar(raw.reportSchedule);
  return {
    settings: { reportSchedule: raw.reportSchedule },
    problems: ok
      ? []
      : [
          `semail:reportSchedule ${JSON.stringify(raw.reportSchedule)} is not a systemd OnCalendar such as daily or *-*-* 06:00, nor empty for no report (pulumi config set reportSchedule daily)`,
        ],
  };
}
