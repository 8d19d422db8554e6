// Listening on parsed "ADDR:PORT" specs (lib/listen-spec.ts). Port 0 picks a free port;
// the bound addresses come back.
import type { SMTPServer } from "smtp-server";
import type { ListenSpec } from "../../lib/listen-spec.ts";
import type { SmtpFrontEnd } from "./front-end.ts";

export type { ListenSpec } from "../../lib/listen-spec.ts";

export interface BoundAddress extends ListenSpec {
  /** The port actually bound (differs from `port` when that was 0). */
  readonly boundPort: number;
  readonly boundAddress: string;
  /** This listener offers AUTH (when the front end does). */
  readonly offersAuth: boolean;
}

export interface Listening {
  readonly addresses: readonly BoundAddress[];
  /** Stops listening; open sessions get limits.closeTimeoutMs to finish, then 421. */
  close(): Promise<void>;
}

function closeServer(server: SMTPServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function listenOne(server: SMTPServer, spec: ListenSpec, offersAuth: boolean): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${spec.spec}: ${err.message}`));
    server.server.once("error", onError);
    server.server.listen({ port: spec.port, host: spec.host }, () => {
      server.server.off("error", onError);
      const address = server.server.address();
      if (address === null || typeof address === "string")
        return reject(new Error(`cannot listen on ${spec.spec}: no address`));
      resolve({ ...spec, boundPort: address.port, boundAddress: address.address, offersAuth });
    });
  });
}

/** Listens on every spec with one smtp-server each; all or nothing. `offersAuth` picks the listeners that offer AUTH (default: all). */
export async function listenSmtp(
  frontEnd: SmtpFrontEnd,
  specs: readonly ListenSpec[],
  offersAuth: (spec: ListenSpec) => boolean = () => true,
): Promise<Listening> {
  const servers: SMTPServer[] = [];
  const close = async () => {
    await Promise.all(servers.map(closeServer));
  };
  try {
    const addresses: BoundAddress[] = [];
    for (const spec of specs) {
      const auth = offersAuth(spec);
      const server = frontEnd.createServer(spec.implicitTls, auth);
      servers.push(server);
      addresses.push(await listenOne(server, spec, auth));
    }
    return { addresses, close };
  } catch (err) {
    await close();
    throw err;
  }
}
