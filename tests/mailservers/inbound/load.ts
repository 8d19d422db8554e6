// Load for the locking and crash tests: many connections, several messages each, every
// message numbered and ending in a marker line so a partial copy shows.
import { SmtpClient } from "../../helpers/smtp.ts";

export interface LoadOptions {
  readonly port: number;
  readonly connections: number;
  readonly messagesPerConnection: number;
  /** Recipients of message n. */
  readonly recipients: (n: number) => readonly string[];
  /** Bytes of body filler per message. */
  readonly bodyBytes?: number;
  /** Called after each 250. */
  readonly onAccepted?: (n: number) => void;
}

export function loadMessage(n: number, to: readonly string[], bodyBytes = 2000): string {
  const line = `message ${n} `.padEnd(76, "x");
  const lines = [
    `Subject: load-${n}`,
    `From: <load@example.org>`,
    `To: ${to.map((a) => `<${a}>`).join(", ")}`,
    `Message-ID: <load-${n}@example.org>`,
    "",
    `BEGIN-${n}`,
  ];
  for (let size = 0; size < bodyBytes; size += 78) lines.push(line);
  // A line that mboxo must quote, and a dot line that SMTP must stuff.
  lines.push("From here the body goes on", "..", `END-${n}`);
  return `${lines.join("\r\n")}\r\n`;
}

/** Sends connections × messagesPerConnection messages; resolves with the numbers that got 250. Connection errors end that connection's share. */
export async function runLoad(options: LoadOptions): Promise<{ accepted: Set<number>; refused: Map<number, string> }> {
  const accepted = new Set<number>();
  const refused = new Map<number, string>();
  const worker = async (w: number) => {
    let client: SmtpClient | undefined;
    try {
      client = await SmtpClient.connect(options.port, { timeoutMs: 60_000 });
      if ((await client.command(`EHLO load${w}.example`)).code !== 250) return;
      for (let i = 0; i < options.messagesPerConnection; i++) {
        const n = w * options.messagesPerConnection + i;
        const to = options.recipients(n);
        const mail = await client.command("MAIL FROM:<load@example.org>");
        if (mail.code !== 250) {
          refused.set(n, `${mail.code} ${mail.text}`);
          continue;
        }
        for (const rcpt of to) await client.command(`RCPT TO:<${rcpt}>`);
        const reply = await client.data(loadMessage(n, to, options.bodyBytes).replace(/^\./gm, ".."));
        if (reply.code === 250) {
          accepted.add(n);
          options.onAccepted?.(n);
        } else refused.set(n, `${reply.code} ${reply.text}`);
      }
      await client.command("QUIT").catch(() => undefined);
    } catch {
      // The server went away (crash test): this connection's remaining messages are not sent.
    } finally {
      client?.close();
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, w) => worker(w)));
  return { accepted, refused };
}
