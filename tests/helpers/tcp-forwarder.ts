// A TCP forwarder for tests: listens on `host` (e.g. a test network's gateway, where a
// container reaches this machine) and pipes each connection to `target`. Containers reach
// each other through it, as another engine's iptables FORWARD policy on this machine may
// drop container-to-container traffic.
import { connect, createServer, type AddressInfo, type Socket } from "node:net";

export interface TcpForwarder {
  /** HOST:PORT to give the container. */
  readonly address: string;
  close(): Promise<void>;
}

export async function tcpForwarder(host: string, target: { host: string; port: number }): Promise<TcpForwarder> {
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    const upstream = connect(target.port, target.host);
    for (const end of [socket, upstream]) {
      open.add(end);
      end.once("close", () => open.delete(end));
    }
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
  return {
    address: `${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const end of open) end.destroy();
      }),
  };
}
