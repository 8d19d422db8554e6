// Postfix's smtp-source as the load driver, for any SMTP server on loopback.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
export const SMTP_SOURCE = "/usr/sbin/smtp-source";

export interface SourceLoad {
  readonly port: number;
  /** Concurrent SMTP sessions. */
  readonly sessions: number;
  /** Messages in all. */
  readonly messages: number;
  /** Message size in bytes (smtp-source -l). */
  readonly size: number;
  /** Recipients; messages are spread evenly over them, one recipient per message. */
  readonly recipients: readonly string[];
  readonly from?: string;
  /** Keep each session open for several messages (-d); otherwise one connection per message. */
  readonly reuseConnections?: boolean;
}

function args(load: SourceLoad, sessions: number, messages: number, to: string): string[] {
  return [
    ...(load.reuseConnections === false ? [] : ["-d"]),
    "-s",
    String(sessions),
    "-m",
    String(messages),
    "-l",
    String(load.size),
    "-f",
    load.from ?? "bench@source.test",
    "-t",
    to,
    "-M",
    "source.test",
    `127.0.0.1:${load.port}`,
  ];
}

/**
 * Runs the load. One recipient: one smtp-source with `sessions` sessions. Several: one
 * smtp-source (one session) per recipient, at most `sessions` of them at a time.
 */
export async function smtpSource(load: SourceLoad): Promise<void> {
  const { recipients } = load;
  if (recipients.length === 1) {
    await run(SMTP_SOURCE, args(load, load.sessions, load.messages, recipients[0]!), { timeout: 30 * 60_000 });
    return;
  }
  const per = Math.floor(load.messages / recipients.length);
  let extra = load.messages - per * recipients.length;
  const jobs = recipients.map((to) => ({ to, messages: per + (extra-- > 0 ? 1 : 0) })).filter((j) => j.messages > 0);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      await run(SMTP_SOURCE, args(load, 1, job.messages, job.to), { timeout: 30 * 60_000 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(load.sessions, jobs.length) }, worker));
}
