// The relay tests' Internet: one zone (t.test) on a real named, and remote SMTP servers on
// loopback addresses that all share one port (the sender's configurable destination port).
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import type { RecipientResult, Sender } from "../../../../../mailservers/outbound/relay/delivery/send.ts";
import { startTestNamed, zoneText } from "../../../../helpers/named.ts";
import { selfSignedPem } from "../../../../../testkit/tls.ts";
import { sharedPort, startLenientTarget, startTarget, type Target } from "../../../../helpers/target-smtp.ts";
import type { RunningNamed } from "../../../../../deploy/local/named.ts";

export const APEX = "t.test";

/** Which loopback address plays which remote server. */
export const IP = {
  a: "127.0.0.2",
  b: "127.0.0.3",
  temp: "127.0.0.4",
  rej: "127.0.0.5",
  hang: "127.0.0.6",
  tls: "127.0.0.7",
  mixed: "127.0.0.8",
  dead: "127.0.0.9", // nothing listens here
  self: "127.0.0.11", // "our own" address in the tests
  lenient: "127.0.0.12",
  stall: "127.0.0.15",
  six: "::1",
} as const;

export const RECORDS = [
  `a IN A ${IP.a}`,
  `b IN A ${IP.b}`,
  `temp IN A ${IP.temp}`,
  `rej IN A ${IP.rej}`,
  `hang IN A ${IP.hang}`,
  `tls IN A ${IP.tls}`,
  `mixed IN A ${IP.mixed}`,
  `dead IN A ${IP.dead}`,
  `self IN A ${IP.self}`,
  `lenient IN A ${IP.lenient}`,
  `stall IN A ${IP.stall}`,
  `six IN AAAA ${IP.six}`,
  `dual IN A ${IP.a}`,
  `dual IN AAAA ${IP.six}`,
  `relay IN A 127.0.0.13`,
  // mail domains
  "pref IN MX 30 b",
  "pref IN MX 10 dead",
  "pref IN MX 20 a",
  "equal IN MX 10 a",
  "equal IN MX 10 b",
  `implicit IN A ${IP.b}`,
  "nullmx IN MX 0 .",
  "unreach IN MX 10 dead",
  `unreach IN A ${IP.a}`,
  "nohost IN MX 10 missing",
  "v6only IN MX 10 six",
  "dualdom IN MX 10 dual",
  "plain IN MX 10 a",
  "temp-d IN MX 10 temp",
  "reject IN MX 10 rej",
  "hang-d IN MX 10 hang",
  "hangfb IN MX 10 hang",
  "hangfb IN MX 20 a",
  "tls-d IN MX 10 tls",
  "mixed-d IN MX 10 mixed",
  "loop IN MX 10 self",
  "loopname IN MX 10 relay",
  "backup IN MX 10 a",
  "backup IN MX 20 self",
  "smuggle IN MX 10 lenient",
  "stall-d IN MX 10 stall",
  "stall-d IN MX 20 a",
  'empty IN TXT "exists, but no MX or address"',
];

export interface World {
  named: RunningNamed;
  port: number;
  targets: Record<"a" | "b" | "temp" | "rej" | "hang" | "tls" | "mixed" | "lenient" | "six" | "stall", Target>;
  close(): Promise<void>;
}

export async function startWorld(extraRecords: readonly string[] = []): Promise<World> {
  const named = await startTestNamed([{ name: APEX, text: zoneText(APEX, [...RECORDS, ...extraRecords]) }]);
  const started: Target[] = [];
  try {
    const port = await sharedPort([
      IP.a,
      IP.b,
      IP.temp,
      IP.rej,
      IP.hang,
      IP.tls,
      IP.mixed,
      IP.lenient,
      IP.six,
      IP.stall,
      IP.dead,
    ]);
    const tls = await selfSignedPem(`tls.${APEX}`);
    const start = async (p: Promise<Target>) => {
      const t = await p;
      started.push(t);
      return t;
    };
    const targets = {
      a: await start(startTarget({ host: IP.a, port })),
      b: await start(startTarget({ host: IP.b, port })),
      temp: await start(startTarget({ host: IP.temp, port, behaviour: { kind: "tempfail", times: 2 } })),
      rej: await start(startTarget({ host: IP.rej, port, behaviour: { kind: "reject" } })),
      hang: await start(startTarget({ host: IP.hang, port, behaviour: { kind: "hang" } })),
      tls: await start(startTarget({ host: IP.tls, port, tls })),
      mixed: await start(
        startTarget({
          host: IP.mixed,
          port,
          rcpt: (address) =>
            address.startsWith("bad")
              ? [550, "5.1.1 No such user"]
              : address.startsWith("later")
                ? [451, "4.2.1 Mailbox busy"]
                : undefined,
        }),
      ),
      lenient: await start(startLenientTarget(IP.lenient, port)),
      six: await start(startTarget({ host: IP.six, port })),
      stall: await start(startTarget({ host: IP.stall, port, behaviour: { kind: "stall-data" } })),
    };
    return {
      named,
      port,
      targets,
      async close() {
        await Promise.all(started.map((t) => t.close()));
        await named.stop();
      },
    };
  } catch (err) {
    await Promise.all(started.map((t) => t.close()));
    await named.stop();
    throw err;
  }
}

/** A re-openable message source, as the spool provides. */
export function source(bytes: Buffer | string): () => Readable {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return () => Readable.from([buffer]);
}

/** A small test message with CRLF line ends. */
export function message(subject: string, body = "Hello.\r\n"): Buffer {
  return Buffer.from(
    `From: alice@sender.${APEX}\r\nTo: someone@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, "")}@sender.${APEX}>\r\n\r\n${body}`,
  );
}

/**
 * Sends one message from alice@sender.APEX to LOCAL@DOMAIN.APEX through `sender`, then closes it;
 * the one recipient's result.
 */
export async function deliverOne(
  sender: Sender,
  apex: string,
  domain: string,
  local: string,
  envelopeId: string,
): Promise<RecipientResult> {
  try {
    const [result] = await sender.deliver({
      domain: `${domain}.${apex}`,
      mailFrom: `alice@sender.${apex}`,
      recipients: [`${local}@${domain}.${apex}`],
      envelopeId,
      message: source(message(`${domain} ${local}`)),
    });
    assert.ok(result);
    return result;
  } finally {
    await sender.close();
  }
}

/** What `target` received for `recipient`. */
export const receivedFor = (target: Target, recipient: string) =>
  target.messages.filter((m) => m.recipients.includes(recipient));
