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

/** A free loopback port: bind port 0, read it, let it go. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, "127.0.0.1", ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (address === null || typeof address === "string") throw new Error("could not find a free loopback port");
  return address.port;
}
