// Loopback ports for the programs local mode and the tests start, which (like slapd and
// named) cannot be handed an already bound socket.
import { createServer } from "node:net";

/** Whether a TCP listener could bind host:port now (port 0: whether host exists here). */
export function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

// Ports picked here lie below the kernel's ephemeral range (32768-60999 on Debian), where
// every outgoing connection takes its local port: a port held for minutes (a local mode
// restarted, a test's second start) must not be taken meanwhile by some client socket.
const PICK_FROM = 20_000;
const PICK_TO = 32_767;

/** A free loopback port below the ephemeral range (random, checked free; bounded tries), else any free one. */
export async function freeLoopbackPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = PICK_FROM + Math.floor(Math.random() * (PICK_TO - PICK_FROM + 1));
    if (await canBind(port, "127.0.0.1")) return port;
  }
  return anyFreeLoopbackPort();
}

/** A free loopback port: bind port 0, read it, let it go. */
async function anyFreeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, "127.0.0.1", ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (address === null || typeof address === "string") throw new Error("could not find a free loopback port");
  return address.port;
}
