// Slowloris senders: one byte every `everyMs`, in a command line that never ends, or in a
// message whose lines end but which never does. Each answers the reply that ended it and how
// long it held its session, and stops dribbling once the server has closed it.
import { SmtpClient } from "../helpers/smtp.ts";

export interface SlowlorisResult {
  /** "421 4.4.2 ..." as sent by the server. */
  readonly reply: string;
  /** From the first dribbled byte to the server closing the connection. */
  readonly heldMs: number;
  readonly bytes: number;
}

async function dribble(client: SmtpClient, text: string, everyMs: number): Promise<SlowlorisResult> {
  const started = Date.now();
  let bytes = 0;
  const timer = setInterval(() => {
    if (client.closed) return;
    client.write(text[bytes % text.length]!);
    bytes++;
  }, everyMs);
  try {
    const reply = await client.read();
    await client.waitClosed();
    return { reply: `${reply.code} ${reply.text}`, heldMs: Date.now() - started, bytes };
  } finally {
    clearInterval(timer);
    client.close();
  }
}

/** Greeted, then "EHLO ..." a byte at a time, never the line end. `boundMs` bounds every wait. */
export async function slowCommandLine(
  port: number,
  localAddress: string,
  everyMs: number,
  boundMs: number,
): Promise<SlowlorisResult> {
  const client = await SmtpClient.connect(port, { localAddress, timeoutMs: boundMs });
  return dribble(client, `EHLO ${"slow".repeat(1000)}`, everyMs);
}

/** A whole envelope, DATA, then a message a byte at a time with a line end every 4 bytes and no final dot. */
export async function slowData(
  port: number,
  localAddress: string,
  to: string,
  everyMs: number,
  boundMs: number,
): Promise<SlowlorisResult> {
  const client = await SmtpClient.connect(port, { localAddress, timeoutMs: boundMs });
  for (const line of ["EHLO slow.example", "MAIL FROM:<slow@example.org>", `RCPT TO:<${to}>`]) {
    const reply = await client.command(line);
    if (reply.code !== 250) throw new Error(`slowloris: ${line} got ${reply.code} ${reply.text}`);
  }
  const go = await client.command("DATA");
  if (go.code !== 354) throw new Error(`slowloris: DATA got ${go.code} ${go.text}`);
  return dribble(client, "ab\r\n", everyMs);
}
