// The Internet's MX for a fault row's relayed mail: an SMTP server on loopback that accepts
// everything and keeps the Subject of each message, so the relay's deliveries can be tallied
// by tag (smtp-sink only counts).
import type { Readable } from "node:stream";
import { SMTPServer } from "smtp-server";

export interface TaggingSink {
  readonly port: number;
  /** Subjects of every message received, in order. */
  readonly subjects: readonly (string | undefined)[];
  stop(): Promise<void>;
}

/** The Subject in a message's header (first 64 KiB), unfolded; the rest of the message is read and dropped. */
async function subjectOf(stream: Readable): Promise<string | undefined> {
  let head = "";
  for await (const chunk of stream) if (head.length < 65_536) head += (chunk as Buffer).toString("latin1");
  const header = head.split("\r\n\r\n", 1)[0]!.replace(/\r\n[ \t]+/g, " ");
  return /^Subject: *(.*)$/im.exec(header)?.[1]?.trim();
}

export async function startTaggingSink(): Promise<TaggingSink> {
  const subjects: (string | undefined)[] = [];
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    size: 64 * 1024 ** 2,
    onData(stream, _session, callback) {
      subjectOf(stream).then(
        (subject) => {
          subjects.push(subject);
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.server.address();
  if (address === null || typeof address === "string") throw new Error("tagging sink: no port");
  return {
    port: address.port,
    subjects,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
