// A bench-like load whose every message is tagged: `sessions` clients in parallel, each
// sending messages of `size` bytes one after another until `messages` are started or `until`
// (a time) has come, every 250 and
// every refusal written to the ledger. A refused greeting or a dropped connection is a
// refusal too (with what was seen), and that session tries again after a short pause.
import { SmtpClient, simpleMessage, type Reply } from "../helpers/smtp.ts";
import { faultTag, type Ledger } from "./ledger.ts";

export interface TaggedLoad {
  readonly port: number;
  readonly sessions: number;
  /** Body bytes per message. */
  readonly size: number;
  /** Messages in all. */
  readonly messages: number;
  /** Stop starting messages at this time (Date.now()) even if fewer were sent. */
  readonly until: number;
  readonly from: string;
  /** The recipient of message n. */
  to(n: number): string;
  readonly auth?: { readonly user: string; readonly password: string };
  /** Shared by every load of one row, so tags stay unique. */
  readonly counter: { next: number };
  readonly ledger: Ledger;
}

const text = (reply: Reply) => `${reply.code} ${reply.text}`;

function body(size: number): string {
  const line = "x".repeat(76);
  return Array.from({ length: Math.max(1, Math.round(size / 78)) }, () => line).join("\r\n");
}

/** One session: answers false when it ended on a refusal before any message (the worker pauses). */
async function session(load: TaggedLoad, filler: string, more: () => boolean): Promise<boolean> {
  let tag: string | undefined;
  let client: SmtpClient | undefined;
  try {
    client = await SmtpClient.connect(load.port, { greeting: false, timeoutMs: 60_000 });
    const greeting = await client.read();
    if (greeting.code !== 220) {
      load.ledger.refused(faultTag(load.counter.next++), text(greeting));
      return false;
    }
    await client.command("EHLO load.example");
    if (load.auth) {
      const plain = Buffer.from(`\0${load.auth.user}\0${load.auth.password}`).toString("base64");
      const reply = await client.command(`AUTH PLAIN ${plain}`);
      if (reply.code !== 235) {
        load.ledger.refused(faultTag(load.counter.next++), text(reply));
        return false;
      }
    }
    for (let sent = 0; sent < 20 && more(); sent++) {
      const n = load.counter.next++;
      tag = faultTag(n);
      load.ledger.sent(tag);
      let reply = await client.command(`MAIL FROM:<${load.from}>`);
      if (reply.code === 250) reply = await client.command(`RCPT TO:<${load.to(n)}>`);
      if (reply.code === 250)
        reply = await client.data(simpleMessage({ from: load.from, to: load.to(n), subject: tag, body: filler }));
      else await client.command("RSET");
      if (reply.code === 250) load.ledger.accepted(tag);
      else load.ledger.refused(tag, text(reply));
      tag = undefined;
    }
    await client.command("QUIT").catch(() => undefined);
    return true;
  } catch (err) {
    load.ledger.refused(tag ?? faultTag(load.counter.next++), `connection lost: ${(err as Error).message}`);
    return false;
  } finally {
    client?.close();
  }
}

export async function runTaggedLoad(load: TaggedLoad): Promise<void> {
  const filler = body(load.size);
  let started = 0;
  // Each call takes one message's place: a worker asks just before it starts a message.
  const more = () => Date.now() < load.until && started++ < load.messages;
  const worker = async () => {
    while (Date.now() < load.until && started < load.messages) {
      if (!(await session(load, filler, more))) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  await Promise.all(Array.from({ length: load.sessions }, worker));
}
