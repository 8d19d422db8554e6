// A destination SMTP server whose fault can be switched on and off while it runs, for the
// fault matrix: a tarpit that takes part of DATA and then stalls, one that drops the
// connection mid-DATA, and one that sends its greeting only after minutes. A connection
// keeps the fault it met when it came in, as a real server's would. Raw TCP, so a fault
// can strike at any byte; in "accept" it is a plain server that records what it got.
import { createServer, type Socket } from "node:net";
import type { ReceivedMessage } from "./target-smtp.ts";

export type Fault =
  | { kind: "accept" }
  /** Answers DATA with 354, keeps the first bytes of the message, then swallows the rest and never answers. */
  | { kind: "tarpit" }
  /** Answers DATA with 354, reads the first bytes of the message, then closes the connection. */
  | { kind: "drop-mid-data" }
  /** Sends its greeting `delayMs` after the connection opens (and then behaves). */
  | { kind: "slow-greeting"; delayMs: number };

/** DATA that did not end in a 250: what arrived of it before the fault struck. */
export interface PartialData {
  readonly fault: Fault["kind"];
  readonly recipients: readonly string[];
  readonly bytes: Buffer;
}

export interface FaultyTarget {
  readonly host: string;
  readonly port: number;
  /** Messages answered with 250. */
  readonly messages: ReceivedMessage[];
  /** DATA cut short by the fault: never delivered. */
  readonly partial: PartialData[];
  /** Connections seen, and those still open now. */
  readonly connections: number;
  readonly open: number;
  /** Open connections that met a fault other than "accept": only the client can end them. */
  readonly stuck: number;
  /** How long each closed connection that met a fault was open, ms. */
  readonly faultedLifetimes: readonly number[];
  /** Commands read after the greeting (MAIL, RCPT, ...), per connection and fault kind. */
  readonly commands: ReadonlyArray<{ fault: Fault["kind"]; command: string }>;
  /** New connections meet this fault from now on. */
  setFault(fault: Fault): void;
  close(): Promise<void>;
}

const END_OF_DATA = Buffer.from("\r\n.\r\n");

export async function startFaultyTarget(host: string, port: number, initial: Fault): Promise<FaultyTarget> {
  let current = initial;
  const messages: ReceivedMessage[] = [];
  const partial: PartialData[] = [];
  const commands: Array<{ fault: Fault["kind"]; command: string }> = [];
  const sockets = new Set<Socket>();
  const faulted = new Set<Socket>();
  const faultedLifetimes: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;

  function serve(socket: Socket): void {
    const fault = current;
    if (fault.kind !== "accept") {
      faulted.add(socket);
      const opened = performance.now();
      socket.once("close", () => faultedLifetimes.push(performance.now() - opened));
    }
    const reply = (line: string) => socket.write(`${line}\r\n`);
    let buffer = Buffer.alloc(0);
    let greeted = false;
    let inData = false;
    let swallowing = false;
    let envelope = { mailFrom: "", recipients: [] as string[] };

    /** A DATA chunk arrived: deliver at the end, or let the fault strike. */
    function data(): void {
      if (fault.kind === "tarpit" || fault.kind === "drop-mid-data") {
        partial.push({ fault: fault.kind, recipients: envelope.recipients, bytes: buffer });
        inData = false;
        // The tarpit reads on, so it sees our side close; it just never answers.
        if (fault.kind === "tarpit") swallowing = true;
        else socket.destroy();
        return;
      }
      // The data may be empty (".\r\n" at once); otherwise it ends at "\r\n.\r\n".
      const end = buffer.subarray(0, 3).equals(Buffer.from(".\r\n")) ? -2 : buffer.indexOf(END_OF_DATA);
      if (end === -1) return;
      const body = end === -2 ? Buffer.alloc(0) : buffer.subarray(0, end + 2);
      buffer = buffer.subarray(end === -2 ? 3 : end + END_OF_DATA.length);
      inData = false;
      const raw = Buffer.from(body.toString("latin1").replace(/(^|\r\n)\.\./g, "$1."), "latin1");
      messages.push({ ...envelope, raw, secure: false, localAddress: host, clientHostname: "" });
      envelope = { mailFrom: "", recipients: [] };
      reply(`250 2.0.0 Ok: queued as ${messages.length}`);
    }

    function read(): void {
      for (let guard = 0; guard < 1000; guard++) {
        if (!greeted || swallowing || socket.destroyed) return;
        if (inData) return buffer.length > 0 ? data() : undefined;
        const end = buffer.indexOf("\r\n");
        if (end === -1) return;
        const line = buffer.subarray(0, end).toString("latin1");
        buffer = buffer.subarray(end + 2);
        const command = line.toUpperCase();
        commands.push({ fault: fault.kind, command: command.split(/[ :]/)[0]! });
        if (command.startsWith("EHLO")) reply("250-faulty.test\r\n250 8BITMIME");
        else if (command.startsWith("HELO")) reply("250 faulty.test");
        else if (command.startsWith("MAIL FROM:")) {
          envelope = { mailFrom: line.slice(10).replace(/^\s*<|>.*$/g, ""), recipients: [] };
          reply("250 2.1.0 Ok");
        } else if (command.startsWith("RCPT TO:")) {
          envelope.recipients.push(line.slice(8).replace(/^\s*<|>.*$/g, ""));
          reply("250 2.1.5 Ok");
        } else if (command === "DATA") {
          inData = true;
          reply("354 End data with <CR><LF>.<CR><LF>");
        } else if (command === "RSET" || command === "NOOP") reply("250 2.0.0 Ok");
        else if (command === "QUIT") {
          reply("221 2.0.0 Bye");
          socket.end();
          return;
        } else reply("502 5.5.2 Command not recognized");
      }
    }

    const greet = () => {
      greeted = true;
      reply("220 faulty.test ESMTP");
      read();
    };
    if (fault.kind === "slow-greeting") {
      const timer = setTimeout(greet, fault.delayMs);
      timers.add(timer);
      socket.once("close", () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
    } else greet();
    socket.on("data", (chunk: Buffer) => {
      if (swallowing) return;
      buffer = Buffer.concat([buffer, chunk]);
      read();
    });
  }

  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      faulted.delete(socket);
    });
    serve(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    host,
    port,
    messages,
    partial,
    commands,
    faultedLifetimes,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    get stuck() {
      return faulted.size;
    },
    setFault(fault) {
      current = fault;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
