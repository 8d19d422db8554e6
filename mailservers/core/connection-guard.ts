// What smtp-server 3.21 has no option for, added to each new connection:
// - VRFY and EXPN answer 502 (smtp-server answers VRFY with 252, and a disabled command
//   with 500);
// - smtp-server's own error replies ("501 Error: ...") get an enhanced status code like
//   ours, so every 4xx/5xx reads "CODE X.Y.Z text";
// - the pause before the greeting is limits.greetDelayMs instead of smtp-server's fixed
//   100 ms (its early-talker check): longer to catch more early talkers, 0 for clients
//   that open a connection per message. As with Postfix's postscreen, an address that
//   waited it out without talking is greeted at once for limits.greetPassTtlMs, so a
//   legitimate MTA pays the pause once, not on every connection;
// - the command timeout: a client that leaves a command line (or a message line)
//   unfinished for limits.commandTimeoutMs gets 421 and is cut. The idle timeout alone
//   restarts at every byte, so a client dribbling one byte a minute would never end;
// - the DATA deadline: a message gets limits.commandTimeoutMs plus 1/MIN_DATA_RATE s per
//   byte received (Postfix's smtpd_min_data_rate), then 421 and a cut. Without it a client
//   ending each message line in time could hold its session slot forever;
// - the bytes of each MAIL and RCPT line go to `onAddressLine` before smtp-server parses
//   them: its hooks see only a UTF-8 decoding, with bad bytes as U+FFFD (address-bytes.ts).
// This reaches into smtp-server internals (SMTPConnection's handler_* lookup, _parser and
// _createParser), pinned by the tests in tests/mailservers/core; if they ever disappear we log it
// and carry on without the extra guard rather than fail to start.
import type { Logger } from "pino";
import type { SMTPServer, SMTPServerSession } from "smtp-server";
import type { SmtpLimits } from "./limits.ts";

type Handler = (command: Buffer, callback: () => void) => void;

interface Parser {
  write(chunk: unknown, ...rest: unknown[]): boolean;
  startDataMode?: (...args: unknown[]) => unknown;
  _dataMode?: boolean;
}

/** Bytes per second a message must arrive at, past limits.commandTimeoutMs (Postfix's default 500). */
const MIN_DATA_RATE = 500;

/** Called with a MAIL or RCPT line as sent, just before smtp-server handles it (and maybe calls a hook). */
export type AddressLineListener = (session: SMTPServerSession, line: Buffer) => void;

interface ConnectionInternals {
  session: SMTPServerSession;
  send(code: number, text: unknown, context?: unknown): void;
  connectionReady(next?: () => void): void;
  close(): void;
  handler_VRFY?: Handler;
  handler_EXPN?: Handler;
  handler_MAIL?: Handler;
  handler_RCPT?: Handler;
  _parser?: Parser | false;
  _createParser?: () => Parser;
}

let warned = false;
let warnedLines = false;

/** Enhanced codes (RFC 3463) for smtp-server's own error replies, by reply code. */
const ENHANCED: Record<number, string> = {
  421: "4.4.2",
  450: "4.2.1",
  451: "4.3.0",
  452: "4.5.3",
  454: "4.7.0",
  500: "5.5.2",
  501: "5.5.4",
  502: "5.5.1",
  503: "5.5.1",
  504: "5.5.4",
  530: "5.7.0",
  535: "5.7.8",
  538: "5.7.11",
  550: "5.0.0",
  552: "5.3.4",
  553: "5.1.3",
  554: "5.0.0",
  555: "5.5.4",
};
const HAS_ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

/** Client addresses that passed the pause before the greeting, until when. Oldest dropped first past `max`. */
export class GreetPasses {
  readonly #until = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(ttlMs: number, max = 10_000) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  has(address: string | undefined): boolean {
    if (address === undefined) return false;
    const until = this.#until.get(address);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#until.delete(address);
    return false;
  }

  add(address: string | undefined): void {
    if (address === undefined || this.#ttlMs <= 0) return;
    this.#until.delete(address);
    this.#until.set(address, Date.now() + this.#ttlMs);
    if (this.#until.size > this.#max) this.#until.delete(this.#until.keys().next().value!);
  }
}

/** Wraps server.connect so each new SMTPConnection gets the guards above. */
export function instrumentConnection(
  server: SMTPServer,
  limits: SmtpLimits,
  logger: Logger,
  onAddressLine: AddressLineListener,
): void {
  const connect = server.connect.bind(server);
  const passes = new GreetPasses(limits.greetPassTtlMs);
  server.connect = (socket, socketOptions) => {
    connect(socket, socketOptions);
    let newest: unknown;
    for (const c of server.connections) newest = c;
    if (newest) {
      const release = guard(
        newest as ConnectionInternals,
        limits,
        logger,
        { address: socket.remoteAddress, passes },
        onAddressLine,
      );
      socket.once("close", release);
    }
  };
}

/** Adds the guards to one connection; returns the cleanup for when its socket closes. */
function guard(
  connection: ConnectionInternals,
  limits: SmtpLimits,
  logger: Logger,
  client: { address: string | undefined; passes: GreetPasses },
  onAddressLine: AddressLineListener,
): () => void {
  const notSupported =
    (name: string): Handler =>
    (_command, callback) => {
      connection.send(502, `5.5.1 ${name} not supported`);
      callback();
    };
  const send = connection.send.bind(connection);
  connection.send = (code, text, context) => {
    if (code >= 400 && typeof text === "string" && !HAS_ENHANCED.test(text)) {
      text = `${ENHANCED[code] ?? (code < 500 ? "4.0.0" : "5.0.0")} ${text.replace(/^Error: /, "")}`;
    }
    send(code, text, context);
  };
  // smtp-server's init() already armed its 100 ms timer, which calls connectionReady by
  // name: answer that call (and ours) once, after our own pause.
  const ready = connection.connectionReady.bind(connection);
  const accepted = Date.now();
  const pause = client.passes.has(client.address) ? 0 : limits.greetDelayMs;
  let greeting: NodeJS.Timeout | undefined;
  let readyCalled = false;
  connection.connectionReady = (next) => {
    if (readyCalled) return;
    readyCalled = true;
    // An early talker never gets here: smtp-server answers it 421 and closes the socket,
    // which clears this timer (the release on "close"), so only a patient client earns a pass.
    greeting = setTimeout(
      () => {
        if (pause > 0) client.passes.add(client.address);
        ready(next);
      },
      Math.max(0, pause - (Date.now() - accepted)),
    );
  };
  connection.connectionReady();
  connection.handler_VRFY = notSupported("VRFY");
  connection.handler_EXPN = notSupported("EXPN");
  for (const name of ["handler_MAIL", "handler_RCPT"] as const) {
    const handler = connection[name];
    if (typeof handler !== "function") {
      if (!warnedLines)
        logger.warn(
          "smtp-server internals changed: MAIL and RCPT bytes are not seen, every U+FFFD in an address is refused",
        );
      warnedLines = true;
      continue;
    }
    connection[name] = (command, callback) => {
      onAddressLine(connection.session, command);
      handler.call(connection, command, callback);
    };
  }

  if (!connection._parser || typeof connection._createParser !== "function") {
    if (!warned) logger.warn("smtp-server internals changed: the command timeout is not enforced");
    warned = true;
    return () => clearTimeout(greeting);
  }
  let partial = 0;
  let timer: NodeJS.Timeout | undefined;
  const expire = () => {
    timer = undefined;
    connection.send(421, "4.4.2 Command timeout: line not finished in time, closing connection");
    connection.close();
  };
  // The DATA deadline: checked when its timer fires, and moved on by the bytes that came since.
  let dataStarted = 0;
  let dataBytes = 0;
  let dataTimer: NodeJS.Timeout | undefined;
  const checkData = (parser: Parser) => {
    dataTimer = undefined;
    if (!parser._dataMode) return; // the message ended; its reply may still be pending
    const left = dataStarted + limits.commandTimeoutMs + (dataBytes * 1000) / MIN_DATA_RATE - Date.now();
    if (left <= 0) {
      connection.send(421, "4.4.2 Data timeout: message not received in time, closing connection");
      connection.close();
      return;
    }
    dataTimer = setTimeout(checkData, left, parser);
    dataTimer.unref();
  };
  const watch = (parser: Parser): Parser => {
    const write = parser.write.bind(parser);
    const startDataMode = parser.startDataMode?.bind(parser);
    if (startDataMode)
      parser.startDataMode = (...args: unknown[]) => {
        dataStarted = Date.now();
        dataBytes = 0;
        clearTimeout(dataTimer);
        dataTimer = setTimeout(checkData, limits.commandTimeoutMs, parser);
        dataTimer.unref();
        return startDataMode(...args);
      };
    parser.write = (chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk) && chunk.length > 0) {
        if (parser._dataMode) dataBytes += chunk.length;
        const newline = chunk.lastIndexOf(0x0a);
        if (newline === -1) partial += chunk.length;
        else {
          partial = chunk.length - newline - 1;
          clearTimeout(timer);
          timer = undefined;
        }
        if (partial > 0 && timer === undefined) {
          timer = setTimeout(expire, limits.commandTimeoutMs);
          timer.unref();
        }
      }
      return write(chunk, ...rest);
    };
    return parser;
  };
  watch(connection._parser);
  // STARTTLS gives the TLS session a new parser.
  const createParser = connection._createParser.bind(connection);
  connection._createParser = () => {
    partial = 0;
    clearTimeout(timer);
    timer = undefined;
    return watch(createParser());
  };
  return () => {
    clearTimeout(timer);
    clearTimeout(dataTimer);
    clearTimeout(greeting);
  };
}
