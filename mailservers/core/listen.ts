// Listening on parsed "ADDR:PORT" specs (lib/listen-spec.ts). Port 0 picks a free port;
// the bound addresses come back. A renewed certificate is handed to every listener with no
// restart (reloadListenerTls): new sessions and STARTTLS get it, open sessions keep theirs.
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import type { SMTPServer } from "smtp-server";
import { readTlsFiles } from "../../config/tls-files.ts";
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
  /** New key and certificate for every listener, from the next handshake on; open sessions are left alone. */
  updateTls(tls: { readonly key: string; readonly cert: string }): void;
}

/**
 * Re-reads the `tls` files and hands them to every listener (SIGHUP, after a renewal). A file
 * that cannot be read, or a key that does not match its certificate, is logged and the
 * certificate in use is kept; a daemon that started without one needs a restart to offer TLS.
 * Answers whether the new files are in use.
 */
export async function reloadListenerTls(
  listening: Listening,
  files: { readonly cert?: string | undefined; readonly key?: string | undefined },
  hadTls: boolean,
  logger: Logger,
): Promise<boolean> {
  if (!hadTls) {
    if (files.cert !== undefined) logger.warn("tls: started without a certificate: restart to offer TLS");
    return false;
  }
  try {
    const tls = await readTlsFiles(files);
    if (!tls) return false;
    createSecureContext(tls); // throws on a key that is not the certificate's, before any listener sees it
    listening.updateTls(tls);
    logger.info({ cert: files.cert }, "tls: certificate reloaded");
    return true;
  } catch (err) {
    logger.error({ err: (err as Error).message }, "tls: cannot reload the certificate: keeping the one in use");
    return false;
  }
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
    const updateTls = (tls: { readonly key: string; readonly cert: string }) => {
      for (const server of servers) server.updateSecureContext({ key: tls.key, cert: tls.cert });
    };
    return { addresses, close, updateTls };
  } catch (err) {
    await close();
    throw err;
  }
}
