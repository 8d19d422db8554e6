// An SMTP sink on loopback that counts what connection reuse is about: connections opened
// and open at once, which session carried which message, and how often each recipient got
// a message. Its faults can be switched on between messages: drop a reused session when its
// MAIL arrives (after RSET), answer DATA with 451, or drop the session after the whole
// message came in (before its final reply).
import { SMTPServer, type SMTPServerSession } from "smtp-server";

export interface SunkMessage {
  recipients: string[];
  /** Server-side id of the session that carried it. */
  session: string;
  /** 1 for the first transaction of its session, 2 for the next, ... */
  transaction: number;
}

export interface Faults {
  /** Close the session when MAIL comes on a session that carried a message before, this many times. */
  dropReusedAtMail: number;
  /** Answer the end of DATA with 451 for messages to these recipients. */
  tempfailData: Set<string>;
  /** Close the session without a reply after DATA for messages to these recipients. */
  dropAfterData: Set<string>;
}

export interface SessionSink {
  host: string;
  port: number;
  /** Messages accepted with 250. */
  messages: SunkMessage[];
  /** DATA phases completed per recipient, whatever the reply (so a second send would show). */
  dataSeen: Map<string, number>;
  readonly connections: number;
  readonly open: number;
  readonly maxOpen: number;
  /** Sessions closed by a fault. */
  readonly drops: number;
  faults: Faults;
  /** Accepted messages per recipient. */
  deliveredTo(recipient: string): number;
  close(): Promise<void>;
}

export async function startSessionSink(
  host = "127.0.0.1",
  options: { idleTimeoutMs?: number } = {},
): Promise<SessionSink> {
  const messages: SunkMessage[] = [];
  const dataSeen = new Map<string, number>();
  const count = { connections: 0, open: 0, maxOpen: 0, drops: 0 };
  const faults: Faults = { dropReusedAtMail: 0, tempfailData: new Set(), dropAfterData: new Set() };

  const server: SMTPServer = new SMTPServer({
    logger: false,
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    ...(options.idleTimeoutMs === undefined ? {} : { socketTimeout: options.idleTimeoutMs }),
    onConnect(_session, callback) {
      count.connections++;
      count.open++;
      count.maxOpen = Math.max(count.maxOpen, count.open);
      callback();
    },
    onClose() {
      count.open--;
    },
    onMailFrom(_address, session, callback) {
      if (faults.dropReusedAtMail > 0 && session.transaction > 1) {
        faults.dropReusedAtMail--;
        drop(session);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on("end", () => {
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        for (const r of recipients) dataSeen.set(r, (dataSeen.get(r) ?? 0) + 1);
        if (recipients.some((r) => faults.dropAfterData.has(r))) return drop(session);
        if (recipients.some((r) => faults.tempfailData.has(r)))
          return callback(Object.assign(new Error("4.3.0 Try again later"), { responseCode: 451 }));
        messages.push({ recipients, session: session.id, transaction: session.transaction });
        callback(null, "2.0.0 Ok: queued");
      });
    },
  });
  server.on("error", () => {});

  /** Closes a session's connection without a reply, as a server that goes away does. */
  function drop(session: SMTPServerSession): void {
    count.drops++;
    for (const connection of server.connections) {
      if ((connection as unknown as { session?: SMTPServerSession }).session?.id === session.id) connection.close();
    }
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    host,
    port,
    messages,
    dataSeen,
    faults,
    get connections() {
      return count.connections;
    },
    get open() {
      return count.open;
    },
    get maxOpen() {
      return count.maxOpen;
    },
    get drops() {
      return count.drops;
    },
    deliveredTo: (recipient) => messages.filter((m) => m.recipients.includes(recipient)).length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
