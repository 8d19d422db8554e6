// `semail report --summary [--since 24h] --log SOURCE... [--mail]`: the flags that add the
// traffic summary (services/report/traffic) and the mail to the postmaster (report-mail.ts),
// apart from report.ts, which runs the checks.
import { ConfigError } from "../config/settings.ts";
import { parseDuration } from "../config/sections/common.ts";
import { logLines } from "../services/report/traffic/log-lines.ts";
import { summarizeTraffic, trafficText, type TrafficSummary } from "../services/report/traffic/traffic-summary.ts";
import type { Flag } from "./command.ts";

export const TRAFFIC_FLAGS: readonly Flag[] = [
  {
    name: "summary",
    type: "boolean",
    description:
      "add the traffic summary from the daemons' logs: received, refused by reason, delivered, deferred, bounced",
  },
  {
    name: "since",
    type: "string",
    value: "DURATION",
    description: "the summary's window, back from now (default 24h)",
  },
  {
    name: "log",
    type: "string",
    multiple: true,
    value: "SOURCE",
    description:
      "the daemons' log lines for --summary: docker:CONTAINER (docker logs), a file (local mode: <data dir>/semail.log) or - (standard input)",
  },
  { name: "mail", type: "boolean", description: "also store the report in the admin mailbox (postmaster@)" },
];

export interface TrafficRequest {
  readonly sources: readonly string[];
  /** Milliseconds back from now. */
  readonly window: number;
}

/** What --summary asks for, undefined without it; a bad flag stops the command before any check runs. */
export function trafficRequest(flags: Readonly<Record<string, unknown>>): TrafficRequest | undefined {
  const since = typeof flags.since === "string" ? flags.since : "24h";
  const window = parseDuration(since);
  if (window === undefined) throw new ConfigError(`--since ${since}: give a duration such as 24h or 7d`);
  if (flags.summary !== true) return undefined;
  const sources = (flags.log as string[] | undefined) ?? [];
  if (sources.length === 0)
    throw new ConfigError(
      "--summary needs --log: --log docker:semail-inbound --log docker:semail-outbound on the VM, --log var/local/semail.log in local mode",
    );
  return { sources, window };
}

export interface TrafficResult {
  readonly traffic?: TrafficSummary;
  /** Why there is no summary: a log could not be read. */
  readonly problem?: string;
  /** What the report's text gets after the findings. */
  readonly text: string;
}

/** The summary up to `now`; a log that cannot be read spoils the summary, never the rest of the report. */
export async function readTraffic(request: TrafficRequest, now: Date): Promise<TrafficResult> {
  const since = new Date(now.getTime() - request.window);
  try {
    const traffic = await summarizeTraffic(logLines(request.sources, since), since, now);
    return { traffic, text: `\n${trafficText(traffic)}` };
  } catch (err) {
    const problem = `cannot read the logs: ${(err as Error).message}`;
    return { problem, text: `\nFAIL traffic: ${problem}\n` };
  }
}
