// Remote SMTP servers for relay tests, on loopback: one that accepts (and records the raw
// message), one that answers 451 a few times, one that rejects, one that hangs, and a
// lenient one that ends DATA on any "<line end>.<line end>" like a smuggling-prone MTA.
import { createServer, type Server, type Socket } from "node:net";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

export interface ReceivedMessage {
  mailFrom: string;
  recipients: string[];
  /** The message as the server got it, dot-unstuffed, without the final "." line. */
  raw: Buffer;
  /** TLS was in use (STARTTLS). */
  secure: boolean;
  /** The local address the client connected to (which loopback IP). */
  localAddress: string;
  /** Name the client gave in EHLO/HELO. */
  clientHostname: string;
  /** AUTH user, when the client authenticated. */
  user?: string;
}

export type Behaviour =
  | { kind: "accept" }
  /** 451 at the end of DATA for the first `times` messages, then accept. */
  | { kind: "tempfail"; times: number }
  /** 550 at the end of DATA. */
  | { kind: "reject" }
  /** Accepts the TCP connection and never says anything. */
  | { kind: "hang" }
  /** Takes the whole message and never answers the final ".". */
  | { kind: "stall-data" }
  /** Takes the whole message and answers the final "." with 250 only after `delayMs`. */
  | { kind: "slow-data-reply"; delayMs: number };

export interface TargetOptions {
  host: string;
  /** 0 or absent: a free port. */
  port?: number;
  behaviour?: Behaviour;
  /** Offers STARTTLS with this certificate; without it STARTTLS is not offered. */
  tls?: { key: string; cert: string };
  /** Per-recipient RCPT reply: return [code, text] to refuse, undefined to accept. */
  rcpt?: (address: string) => [number, string] | undefined;
  /** Requires AUTH (PLAIN/LOGIN, only after STARTTLS) with these credentials, like a submission relay. */
  auth?: { user: string; pass: string };
}

export interface Target {
  host: string;
  port: number;
  /** Messages accepted with 250. */
  messages: ReceivedMessage[];
  /** Connections seen (including ones that hang or are refused later). */
  connections: number;
  close(): Promise<void>;
}

class ReplyError extends Error {
  readonly responseCode: number;
  constructor(code: number, text: string) {
    super(text);
    this.responseCode = code;
  }
}

export async function startTarget(options: TargetOptions): Promise<Target> {
  const behaviour = options.behaviour ?? { kind: "accept" };
  if (behaviour.kind === "hang") return startHanging(options.host, options.port ?? 0);
  const messages: ReceivedMessage[] = [];
  let tempFailures = 0;
  const state = { connections: 0 };
  const serverOptions: SMTPServerOptions = {
    logger: false,
    authOptional: !options.auth,
    disableReverseLookup: true,
    disabledCommands: [...(options.auth ? [] : ["AUTH"]), ...(options.tls ? [] : ["STARTTLS"])],
    authMethods: ["PLAIN", "LOGIN"],
    onAuth(auth, _session, callback) {
      const ok = options.auth && auth.username === options.auth.user && auth.password === options.auth.pass;
      callback(
        ok ? null : new ReplyError(535, "5.7.8 Authentication credentials invalid"),
        ok ? { user: auth.username } : undefined,
      );
    },
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    onConnect(_session, callback) {
      state.connections++;
      callback();
    },
    onRcptTo(address, _session, callback) {
      const refusal = options.rcpt?.(address.address);
      callback(refusal ? new ReplyError(refusal[0], refusal[1]) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (behaviour.kind === "stall-data") return;
        if (behaviour.kind === "reject") return callback(new ReplyError(550, "5.7.1 Message refused by policy"));
        if (behaviour.kind === "tempfail" && tempFailures < behaviour.times) {
          tempFailures++;
          return callback(new ReplyError(451, "4.7.1 Try again later"));
        }
        messages.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          recipients: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          secure: session.secure,
          localAddress: session.localAddress,
          clientHostname: session.hostNameAppearsAs,
          ...(session.user === undefined ? {} : { user: String(session.user) }),
        });
        const accept = () => callback(null, `2.0.0 Ok: queued as ${messages.length}`);
        if (behaviour.kind === "slow-data-reply") setTimeout(accept, behaviour.delayMs);
        else accept();
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on("error", () => {});
  const port = await listen(server.server, options.host, options.port ?? 0);
  return {
    host: options.host,
    port,
    messages,
    get connections() {
      return state.connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A raw TCP target: `handle` runs per connection; the server counts them and cuts them at close. */
async function rawTarget(
  host: string,
  port: number,
  messages: ReceivedMessage[],
  handle: (socket: Socket) => void,
): Promise<Target> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    handle(socket);
  });
  const bound = await listen(server, host, port);
  return {
    host,
    port: bound,
    messages,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Accepts the TCP connection and never says anything. */
function startHanging(host: string, port: number): Promise<Target> {
  return rawTarget(host, port, [], () => {});
}

/**
 * A minimal, deliberately sloppy SMTP server: it takes CR, LF or CRLF as a line end and ends
 * DATA at any "<end>.<end>", as the MTAs that SMTP smuggling exploits do. Whatever follows
 * an early end is read as new commands, so a smuggled message shows up as a second one.
 */
export function startLenientTarget(host: string, port = 0): Promise<Target> {
  const messages: ReceivedMessage[] = [];
  return rawTarget(host, port, messages, (socket) => {
    let buffer = Buffer.alloc(0);
    let inData = false;
    let envelope = { mailFrom: "", recipients: [] as string[] };
    const reply = (line: string) => socket.write(`${line}\r\n`);
    socket.write("220 lenient.test ESMTP\r\n");
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let guard = 0; guard < 10_000; guard++) {
        const text = buffer.toString("latin1");
        if (inData) {
          // The data may start with "." directly (an empty message) or have "<end>.<end>" inside.
          const match = /(^|\r\n|\r|\n)\.(\r\n|\r|\n)/.exec(text);
          if (!match) return;
          const body = text.slice(0, match.index + match[1]!.length);
          buffer = buffer.subarray(Buffer.byteLength(text.slice(0, match.index + match[0].length), "latin1"));
          inData = false;
          messages.push({
            ...envelope,
            raw: Buffer.from(body, "latin1"),
            secure: false,
            localAddress: socket.localAddress ?? "",
            clientHostname: "",
          });
          envelope = { mailFrom: "", recipients: [] };
          reply(`250 2.0.0 Ok: queued as ${messages.length}`);
          continue;
        }
        const line = /^(.*?)(\r\n|\r|\n)/s.exec(text);
        if (!line) return;
        buffer = buffer.subarray(Buffer.byteLength(line[0], "latin1"));
        const command = line[1]!.toUpperCase();
        if (command.startsWith("EHLO")) reply("250-lenient.test\r\n250 8BITMIME");
        else if (command.startsWith("HELO")) reply("250 lenient.test");
        else if (command.startsWith("MAIL FROM:")) {
          envelope.mailFrom = line[1]!.slice(10).replace(/^<|>.*$/g, "");
          reply("250 2.1.0 Ok");
        } else if (command.startsWith("RCPT TO:")) {
          envelope.recipients.push(line[1]!.slice(8).replace(/^<|>.*$/g, ""));
          reply("250 2.1.5 Ok");
        } else if (command === "DATA") {
          inData = true;
          reply("354 End data with <CR><LF>.<CR><LF>");
        } else if (command === "RSET") reply("250 Ok");
        else if (command === "NOOP") reply("250 Ok");
        else if (command === "QUIT") {
          reply("221 Bye");
          socket.end();
          return;
        } else reply("502 5.5.2 Command not recognized");
      }
    });
  });
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/** A port on which every host can listen (TCP), found by binding port 0 (bounded tries). */
export async function sharedPort(hosts: readonly string[]): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const probe = createServer();
    const port = await listen(probe, hosts[0] ?? "127.0.0.1", 0);
    await new Promise((r) => probe.close(r));
    const servers: Server[] = [];
    let ok = true;
    for (const host of hosts) {
      const s = createServer();
      try {
        await listen(s, host, port);
        servers.push(s);
      } catch {
        ok = false;
        break;
      }
    }
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    if (ok) return port;
  }
  throw new Error(`no port free on all of ${hosts.join(", ")}`);
}
