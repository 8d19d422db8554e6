// A raw TCP connection that says nothing: what a flood of idle clients (or a slowloris
// between its bytes) looks like to the daemon. It keeps the first reply line and when the
// server closed it, so a row can tell a greeting from a refusal and a cut from a hang.
import { connect, type Socket } from "node:net";

export class HeldConnection {
  readonly socket: Socket;
  readonly opened = Date.now();
  /** The first line the server sent ("220 ...", "421 4.3.2 ..."); undefined until then. */
  firstLine: string | undefined;
  firstLineAt: number | undefined;
  /** Every line the server sent, in order. */
  readonly lines: string[] = [];
  /** When the server closed the connection (or it failed); undefined while open. */
  closedAt: number | undefined;
  #buffer = "";

  constructor(port: number, localAddress: string) {
    this.socket = connect({ host: "127.0.0.1", port, localAddress });
    this.socket.setEncoding("latin1");
    this.socket.on("data", (text: string) => {
      this.#buffer += text;
      for (let end = this.#buffer.indexOf("\r\n"); end !== -1; end = this.#buffer.indexOf("\r\n")) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        this.lines.push(line);
        if (this.firstLine === undefined) {
          this.firstLine = line;
          this.firstLineAt = Date.now();
        }
      }
    });
    this.socket.on("error", () => undefined);
    this.socket.on("close", () => {
      this.closedAt = Date.now();
    });
  }

  get greeted(): boolean {
    return this.firstLine?.startsWith("220 ") ?? false;
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** The reply code and enhanced status of the last line ("421 4.4.2"), for summaries. */
  get lastReply(): string | undefined {
    const last = this.lines.at(-1);
    return last === undefined ? undefined : (/^\d{3}(?: \d\.\d{1,3}\.\d{1,3})?/.exec(last)?.[0] ?? last);
  }

  write(text: string): void {
    if (!this.closed) this.socket.write(text, "latin1");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens `count` held connections spread over `addresses`, `batch` at a time so the backlog is not the limit under test. */
export async function openHeld(
  port: number,
  addresses: readonly string[],
  count: number,
  batch = 200,
): Promise<HeldConnection[]> {
  const held: HeldConnection[] = [];
  for (let i = 0; i < count; i += batch) {
    const wave: Promise<void>[] = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const c = new HeldConnection(port, addresses[j % addresses.length]!);
      held.push(c);
      wave.push(
        new Promise((resolve) => {
          c.socket.once("connect", () => resolve());
          c.socket.once("close", () => resolve());
        }),
      );
    }
    await Promise.all(wave);
  }
  return held;
}

/** 127.<a>.<b>.<c> addresses numbered from 1: `count` distinct loopback clients. */
export function loopbackAddresses(second: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.${second}.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`);
}
