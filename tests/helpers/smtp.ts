// Raw-socket SMTP for protocol tests: send exact bytes, read whole replies (multi-line
// aware), upgrade with STARTTLS. Every wait is bounded.
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";

export interface Reply {
  readonly code: number;
  /** Text of the last line, after the code. */
  readonly text: string;
  /** Every line, as received. */
  readonly lines: readonly string[];
}

export interface ConnectOptions {
  readonly host?: string;
  /** Source address, e.g. 127.0.0.2 to look like another client. */
  readonly localAddress?: string;
  /** Implicit TLS (465-style); the test certificate is not verified. */
  readonly tls?: boolean;
  /** Wait for the greeting (default true). */
  readonly greeting?: boolean;
  /** Bound for each wait, ms (default 10 s). */
  readonly timeoutMs?: number;
}

export class SmtpClient {
  socket: Socket | TLSSocket;
  readonly timeoutMs: number;
  /** The greeting, when connect waited for it. */
  greeting: Reply | undefined;
  #buffer = "";
  #lines: string[] = [];
  #replies: Reply[] = [];
  #waiters: Array<(reply: Reply | Error) => void> = [];
  #closed = false;
  #closedWaiters: Array<() => void> = [];

  private constructor(socket: Socket | TLSSocket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.#attach(socket);
  }

  static async connect(port: number, options: ConnectOptions = {}): Promise<SmtpClient> {
    const host = options.host ?? "127.0.0.1";
    const socket = options.tls
      ? tlsConnect({
          port,
          host,
          rejectUnauthorized: false,
          servername: "localhost",
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        })
      : netConnect({ port, host, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
    const client = new SmtpClient(socket, options.timeoutMs ?? 10_000);
    if (options.greeting !== false) client.greeting = await client.read();
    return client;
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on("data", (chunk: Buffer) => this.#onData(chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0))
        w(new Error(`connection closed; unread: ${JSON.stringify(this.#buffer)}`));
      for (const w of this.#closedWaiters.splice(0)) w();
    });
  }

  #onData(text: string): void {
    this.#buffer += text;
    let end: number;
    while ((end = this.#buffer.indexOf("\r\n")) !== -1) {
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      this.#lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const reply = { code: Number(line.slice(0, 3)), text: line.slice(4), lines: this.#lines };
        this.#lines = [];
        const waiter = this.#waiters.shift();
        if (waiter) waiter(reply);
        else this.#replies.push(reply);
      }
    }
  }

  /** The next reply (bounded wait). */
  read(): Promise<Reply> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#closed) return Promise.reject(new Error(`connection closed; unread: ${JSON.stringify(this.#buffer)}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(done), 1);
        reject(new Error(`no SMTP reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const done = (reply: Reply | Error) => {
        clearTimeout(timer);
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      };
      this.#waiters.push(done);
    });
  }

  /** Writes raw bytes, exactly as given. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Sends one command line (CRLF added) and reads its reply. */
  async command(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  /** DATA, then `body` (already dot-stuffed, without the final dot) and <CRLF>.<CRLF>; returns the final reply. */
  async data(body: string | Buffer): Promise<Reply> {
    const go = await this.command("DATA");
    if (go.code !== 354) return go;
    this.write(body);
    const text = typeof body === "string" ? body : body.toString("latin1");
    this.write(text.endsWith("\r\n") ? ".\r\n" : "\r\n.\r\n");
    return this.read();
  }

  /** STARTTLS and the TLS handshake; replies are then read over TLS. */
  async startTls(): Promise<Reply> {
    const reply = await this.command("STARTTLS");
    if (reply.code !== 220) return reply;
    const plain = this.socket;
    plain.removeAllListeners("data");
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: "localhost" });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    this.socket = secure;
    this.#attach(secure);
    return reply;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the server has closed the connection (bounded wait). */
  waitClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`connection still open after ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      this.#closedWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A plain message with CRLF endings. */
export function simpleMessage(options: {
  from: string;
  to: string;
  subject: string;
  body?: string;
  headers?: readonly string[];
}): string {
  return [
    `From: <${options.from}>`,
    `To: <${options.to}>`,
    `Subject: ${options.subject}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@test>`,
    ...(options.headers ?? []),
    "",
    options.body ?? "Hello.",
  ].join("\r\n");
}

/** One whole transaction over a new connection; returns the DATA reply (or the first refusal). */
export async function sendMessage(
  port: number,
  options: {
    from: string;
    to: readonly string[];
    data: string | Buffer;
    host?: string;
    helo?: string;
    /** Source address, e.g. 127.0.0.2 to look like another client. */
    localAddress?: string;
    /** How long to wait for each reply (default 10 s). */
    timeoutMs?: number;
  },
): Promise<Reply> {
  const client = await SmtpClient.connect(port, {
    ...(options.host ? { host: options.host } : {}),
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  try {
    let reply = await client.command(`EHLO ${options.helo ?? "client.test"}`);
    if (reply.code !== 250) return reply;
    reply = await client.command(`MAIL FROM:<${options.from}>`);
    if (reply.code !== 250) return reply;
    let accepted = 0;
    let refusal: Reply | undefined;
    for (const to of options.to) {
      reply = await client.command(`RCPT TO:<${to}>`);
      if (reply.code === 250) accepted++;
      else refusal ??= reply;
    }
    if (accepted === 0) return refusal!;
    reply = await client.data(options.data);
    await client.command("QUIT").catch(() => undefined);
    return reply;
  } finally {
    client.close();
  }
}
