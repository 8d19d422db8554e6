// A well-behaved client for a fault row: one session from `localAddress`, tagged messages
// (Subject fault-<n>) to one recipient, each 250 or refusal written to the ledger.
import { SmtpClient, simpleMessage } from "../helpers/smtp.ts";
import { faultTag, type Ledger } from "./ledger.ts";

export interface TaggedSession {
  readonly port: number;
  readonly localAddress: string;
  readonly to: string;
  /** Message numbers to send, one tag each. */
  readonly numbers: readonly number[];
  readonly ledger: Ledger;
  /** Body filler, bytes (default a short line). */
  readonly bodyBytes?: number;
  /** Called at each 250, when it comes (a row's recovery ends at the first). */
  readonly onAccepted?: (tag: string) => void;
}

/** Sends each message; answers the greeting's wait in ms. A refused greeting refuses every message. */
export async function sendTagged(options: TaggedSession): Promise<{ greetingMs: number; greeting: string }> {
  const started = Date.now();
  const client = await SmtpClient.connect(options.port, { localAddress: options.localAddress, greeting: false });
  try {
    const greeting = await client.read();
    const greetingMs = Date.now() - started;
    const text = `${greeting.code} ${greeting.text}`;
    if (greeting.code !== 220) {
      for (const n of options.numbers) options.ledger.refused(faultTag(n), text);
      return { greetingMs, greeting: text };
    }
    await client.command("EHLO normal.example");
    for (const n of options.numbers) {
      const tag = faultTag(n);
      options.ledger.sent(tag);
      const body = "x".repeat(options.bodyBytes ?? 40).replace(/(.{76})/g, "$1\r\n");
      const reply = await sendOne(
        client,
        options.to,
        simpleMessage({ from: "normal@example.org", to: options.to, subject: tag, body }),
      );
      if (reply.startsWith("250 ")) {
        options.ledger.accepted(tag);
        options.onAccepted?.(tag);
      } else options.ledger.refused(tag, reply);
    }
    await client.command("QUIT").catch(() => undefined);
    return { greetingMs, greeting: text };
  } finally {
    client.close();
  }
}

async function sendOne(client: SmtpClient, to: string, message: string): Promise<string> {
  const mail = await client.command("MAIL FROM:<normal@example.org>");
  if (mail.code !== 250) return `${mail.code} ${mail.text}`;
  const rcpt = await client.command(`RCPT TO:<${to}>`);
  if (rcpt.code !== 250) {
    await client.command("RSET");
    return `${rcpt.code} ${rcpt.text}`;
  }
  const reply = await client.data(message);
  return `${reply.code} ${reply.text}`;
}
