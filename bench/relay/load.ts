// The load, in the manner of smtp-source (-s sessions -m messages -l size): `sessions`
// connections in parallel, each sending messages one after another until `messages` are
// sent. smtp-source cannot AUTH, which the outbound daemon requires, so both servers get
// this same generator (with AUTH PLAIN for outbound, none for Postfix).
import { connect, type Socket } from "node:net";

export interface LoadOptions {
  readonly port: number;
  readonly sessions: number;
  readonly messages: number;
  /** Body size in bytes. */
  readonly size: number;
  readonly from: string;
  /** The recipient, or recipients taken in turn, one per message (one per destination domain). */
  readonly to: string | readonly string[];
  readonly auth?: { readonly user: string; readonly password: string };
  /** Messages per connection before it is closed and another opened (default: no limit). */
  readonly perConnection?: number;
}

class Conversation {
  #socket: Socket;
  #buffer = "";
  /** Lines of the reply being read (a multi-line reply ends with "NNN "). */
  #lines: string[] = [];
  #waiting: ((reply: string) => void) | undefined;
  #replies: string[] = [];

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      this.#buffer += d;
      let end;
      while ((end = this.#buffer.indexOf("\r\n")) >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        this.#lines.push(line);
        if (!/^\d{3} /.test(line)) continue;
        // The whole reply, its last line first (that is what expect() checks).
        const reply = [line, ...this.#lines.slice(0, -1)].join("\n");
        this.#lines = [];
        const w = this.#waiting;
        this.#waiting = undefined;
        if (w) w(reply);
        else this.#replies.push(reply);
      }
    });
  }

  reply(): Promise<string> {
    const ready = this.#replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no reply in 60 s")), 60_000);
      this.#waiting = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** Sends `command` (if any), reads one reply and checks its code; resolves with the reply's text. */
  async expect(command: string | Buffer | undefined, code: string): Promise<string> {
    if (command !== undefined) this.#socket.write(command);
    const reply = await this.reply();
    if (!reply.startsWith(code))
      throw new Error(`${command?.toString().trim().slice(0, 80) ?? "greeting"}: expected ${code}, got ${reply}`);
    return reply;
  }

  close(): void {
    this.#socket.end("QUIT\r\n");
  }
}

/**
 * Sends the load; resolves with the submission time in ms. Where the server offers
 * PIPELINING (both do), MAIL, RCPT and DATA go in one write, as a real client's would.
 */
export async function sendLoad(options: LoadOptions): Promise<number> {
  const line = "x".repeat(76);
  const lines = Math.max(1, Math.round(options.size / 78));
  // Encoded once: the generator should cost as little as it can, for both servers alike.
  const body = Buffer.from(
    `From: <${options.from}>\r\nTo: undisclosed-recipients:;\r\nSubject: bench\r\n\r\n${`${line}\r\n`.repeat(lines)}.\r\n`,
    "latin1",
  );
  let next = 0;
  const started = Date.now();
  const connection = async () => {
    const socket = connect({ port: options.port, host: "127.0.0.1" });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new Conversation(socket);
    await c.expect(undefined, "220");
    const pipelining = /^250[- ]PIPELINING$/im.test(await c.expect("EHLO load.bench.test\r\n", "250"));
    if (options.auth)
      await c.expect(
        `AUTH PLAIN ${Buffer.from(`\0${options.auth.user}\0${options.auth.password}`).toString("base64")}\r\n`,
        "235",
      );
    for (let sent = 0; next < options.messages && sent < (options.perConnection ?? Infinity); sent++) {
      const to = typeof options.to === "string" ? options.to : options.to[next % options.to.length];
      next++;
      const commands = [`MAIL FROM:<${options.from}>\r\n`, `RCPT TO:<${to}>\r\n`, "DATA\r\n"];
      if (pipelining) c.write(commands.join(""));
      for (const [i, code] of ["250", "250", "354"].entries())
        await c.expect(pipelining ? undefined : commands[i], code);
      await c.expect(body, "250");
    }
    c.close();
  };
  const session = async () => {
    while (next < options.messages) await connection();
  };
  await Promise.all(Array.from({ length: options.sessions }, session));
  return Date.now() - started;
}
