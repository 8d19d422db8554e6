// The SMTP load, the same for SEMail and for Postfix: messages of one size into the
// mailboxes (smtp-source, the sessions spread over them) and, at the same time, submitted
// for relay to the sink's domain (bench/relay's generator, with AUTH where the server needs
// it). Resolves once every message is in the mbox files and at the sink, with the rates.
import type { MboxCounter } from "../lib/mbox-count.ts";
import { until } from "../../testkit/until.ts";
import { smtpSource } from "../lib/smtp-source.ts";
import { sendLoad } from "../relay/load.ts";
import type { Sink } from "../relay/sink.ts";
import type { BenchUser } from "./stack.ts";
import { SINK_DOMAIN, SOURCE_DOMAIN } from "./stack.ts";

export interface Shape {
  /** Message size in bytes. */
  readonly size: number;
  /** Messages in, and messages out. */
  readonly messages: number;
  /** Concurrent inbound sessions, spread over the mailboxes. */
  readonly inboundSessions: number;
  /** Concurrent submission sessions. */
  readonly outboundSessions: number;
}

/** Where the load goes on one side (SEMail or Postfix). */
export interface Target {
  readonly inboundPort: number;
  readonly submissionPort: number;
  /** AUTH for submission (SEMail's outbound requires it; Postfix trusts loopback). */
  readonly auth?: { readonly user: string; readonly password: string };
  /** The mbox file of each user's inbox. */
  inbox(user: BenchUser): string;
}

export interface Rates {
  /** Messages per second until the last one was in an mbox file. */
  readonly inbound: number;
  /** Messages per second until the last one was at the sink. */
  readonly outbound: number;
}

const LIMIT_MS = 30 * 60_000;

export async function putLoad(
  target: Target,
  users: readonly BenchUser[],
  sink: Sink,
  shape: Shape,
  counter: MboxCounter,
): Promise<Rates> {
  const files = users.map((u) => target.inbox(u));
  const inboxBase = await counter.count(files);
  const sinkBase = sink.count();
  const sender = users[0]!;
  const perUser = Math.floor(shape.messages / users.length);
  const started = performance.now();
  let failed: unknown;
  const inbound = Promise.all(
    users.map((user, i) =>
      smtpSource({
        port: target.inboundPort,
        sessions: Math.max(1, Math.round(shape.inboundSessions / users.length)),
        messages: perUser + (i < shape.messages - perUser * users.length ? 1 : 0),
        size: shape.size,
        recipients: [user.address],
        from: `bench@${SOURCE_DOMAIN}`,
      }),
    ),
  );
  const outbound = sendLoad({
    port: target.submissionPort,
    sessions: shape.outboundSessions,
    messages: shape.messages,
    size: shape.size,
    from: sender.address,
    to: `sink@${SINK_DOMAIN}`,
    ...(target.auth ? { auth: target.auth } : {}),
  });
  for (const load of [inbound, outbound]) load.catch((err: unknown) => (failed ??= err));
  let inboundDone = 0;
  let outboundDone = 0;
  await until(
    async () => {
      if (failed) throw failed;
      const now = performance.now();
      if (!inboundDone && (await counter.count(files)) - inboxBase >= shape.messages) inboundDone = now;
      if (!outboundDone && sink.count() - sinkBase >= shape.messages) outboundDone = now;
      return inboundDone > 0 && outboundDone > 0;
    },
    `${shape.messages} messages of ${shape.size} bytes in the mailboxes and at the sink`,
    LIMIT_MS,
    50,
  );
  await Promise.all([inbound, outbound]);
  const rate = (at: number) => shape.messages / ((at - started) / 1000);
  return { inbound: rate(inboundDone), outbound: rate(outboundDone) };
}
