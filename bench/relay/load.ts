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
  readonly to: string;
  readonly auth?: { readonly user: string; readonly password: string };
}

class Conversation {
  #socket: Socket;
  #buffer = "";
  #waiting: ((line: string) => void) | undefined;
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
        if (/^\d{3} /.test(line)) {
          const w = this.#waiting;
          this.#waiting = undefined;
          if (w) w(line);
          else this.#replies.push(line);
        }
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

  async expect(command: string | undefined, code: string): Promise<void> {
    if (command !== undefined) this.#socket.write(command);
    const line = await this.reply();
    if (!line.startsWith(code)) throw new Error(`${command?.trim() ?? "greeting"}: expected ${code}, got ${line}`);
  }

  close(): void {
    this.#socket.end("QUIT\r\n");
  }
}

/** Sends the load; resolves with the submission time in ms. */
export async function sendLoad(options: LoadOptions): Promise<number> {
  const line = "x".repeat(76);
  const lines = Math.max(1, Math.round(options.size / 78));
  const body = `From: <${options.from}>\r\nTo: <${options.to}>\r\nSubject: bench\r\n\r\n${`${line}\r\n`.repeat(lines)}.\r\n`;
  let next = 0;
  const started = Date.now();
  const session = async () => {
    const socket = connect({ port: options.port, host: "127.0.0.1" });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new Conversation(socket);
    await c.expect(undefined, "220");
    await c.expect("EHLO load.bench.test\r\n", "250");
    if (options.auth) await c.expect(`AUTH PLAIN ${Buffer.from(`\0${options.auth.user}\0${options.auth.password}`).toString("base64")}\r\n`, "235");
    while (next < options.messages) {
      next++;
      await c.expect(`MAIL FROM:<${options.from}>\r\n`, "250");
      await c.expect(`RCPT TO:<${options.to}>\r\n`, "250");
      await c.expect("DATA\r\n", "354");
      await c.expect(body, "250");
    }
    c.close();
  };
  await Promise.all(Array.from({ length: options.sessions }, session));
  return Date.now() - started;
}
