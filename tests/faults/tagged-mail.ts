// Tagged messages for the mailbox rows: Subject `fault-<n>`, then a body of a chosen size
// between BEGIN and END lines, so that a copy cut short or glued to its neighbour shows when
// the mbox is read back by an independent reader.
import assert from "node:assert/strict";
import { sendMessage, type Reply } from "../helpers/smtp.ts";
import { readMbox, type ParsedMessage } from "../mailservers/inbound/store/fixture.ts";
import { countTags, faultTag, type Ledger } from "./ledger.ts";

const FILLER = "x".repeat(76);
/** The envelope and header sender of every tagged message. */
export const SENDER = "sender@example.org";

/** Message n to `to`, about `bytes` long, with CRLF lines as a client sends it. */
export function taggedMessage(n: number, to: string, bytes: number): string {
  const lines = Math.max(1, Math.ceil(bytes / (FILLER.length + 2)));
  return [
    `From: <${SENDER}>`,
    `To: <${to}>`,
    `Subject: ${faultTag(n)}`,
    `Message-ID: <${faultTag(n)}@example.org>`,
    `X-Fault-Lines: ${lines}`,
    "",
    `BEGIN-${n}`,
    ...Array.from({ length: lines }, () => FILLER),
    `END-${n}`,
    "",
  ].join("\r\n");
}

/** Sends message n on a new connection and books its reply in `ledger`; a dropped connection is a refusal. */
export async function sendTagged(port: number, ledger: Ledger, n: number, to: string, bytes: number): Promise<Reply> {
  const tag = faultTag(n);
  let reply: Reply;
  try {
    reply = await sendMessage(port, { from: SENDER, to: [to], data: taggedMessage(n, to, bytes) });
  } catch (error) {
    ledger.refused(tag, `connection failed: ${(error as Error).message}`);
    throw error;
  }
  if (reply.code === 250) ledger.accepted(tag);
  else ledger.refused(tag, `${reply.code} ${reply.text}`);
  return reply;
}

/** Every tagged message in `messages` is whole: its BEGIN line, all its lines, its END line. */
export function assertWhole(messages: readonly ParsedMessage[], where: string): void {
  for (const message of messages) {
    const n = /^fault-(\d+)$/.exec(message.subject ?? "")?.[1];
    assert.ok(n !== undefined, `${where}: a message that is not ours: ${message.subject}`);
    const lines = Number(message.headers.find(([name]) => name === "X-Fault-Lines")?.[1]);
    const expected = [`BEGIN-${n}`, ...Array.from({ length: lines }, () => FILLER), `END-${n}`, ""].join("\n");
    assert.equal(message.body, expected, `${where}: fault-${n} is not whole`);
  }
}

/** Reads each mbox (Python's mailbox module), checks every message is whole, and counts the tags found. */
export async function tagsIn(mboxes: readonly string[]): Promise<Map<string, number>> {
  const subjects: (string | undefined)[] = [];
  for (const file of mboxes) {
    const messages = await readMbox(file);
    assertWhole(messages, file);
    subjects.push(...messages.map((m) => m.subject ?? undefined));
  }
  return countTags(subjects);
}
