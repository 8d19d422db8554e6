// MTA-STS on the network (RFC 8461 3.3): the `_mta-sts.<domain>` TXT lookup, and the policy
// fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt with a valid certificate for that
// name, no redirects, in bounded time and size. Names resolve through the relay's own DNS server,
// so tests point everything at a local named and a local HTTPS server.
import { Resolver } from "node:dns/promises";
import { request } from "node:https";
import { parseStsRecord } from "./mta-sts-policy.ts";

export interface StsNetworkOptions {
  /** DNS server "IP", "IP:PORT" or "[IPv6]:PORT"; the system's servers when absent. */
  server?: string;
  dnsTimeoutMs?: number;
  /** Port of the policy host (443; tests use another). */
  httpsPort?: number;
  /** Trust anchors for the policy host's certificate instead of the system's (tests). */
  ca?: string | readonly string[];
  /** The whole fetch, from the first connect to the last byte. */
  fetchTimeoutMs?: number;
  /** Largest policy file taken (RFC 8461 3.3 suggests 64 KiB). */
  maxPolicyBytes?: number;
}

/** A failure of the lookup itself (not "no record"): the cached policy, if any, stays in use. */
export class StsLookupError extends Error {
  override readonly name = "StsLookupError";
}

export interface StsNetwork {
  /** The id of the domain's valid `_mta-sts` record, or undefined when it has none; throws StsLookupError when DNS fails. */
  recordId(domain: string): Promise<string | undefined>;
  /** The policy file's text; throws an Error saying why it could not be had. */
  fetchPolicy(domain: string): Promise<string>;
}

export function createStsNetwork(options: StsNetworkOptions = {}): StsNetwork {
  const resolver = new Resolver({ timeout: options.dnsTimeoutMs ?? 5000, tries: 2 });
  if (options.server !== undefined) resolver.setServers([options.server]);
  const port = options.httpsPort ?? 443;
  const timeoutMs = options.fetchTimeoutMs ?? 10_000;
  const maxBytes = options.maxPolicyBytes ?? 64 * 1024;

  async function addressesOf(name: string): Promise<string[]> {
    const quiet = (p: Promise<string[]>) => p.catch((): string[] => []);
    const [six, four] = await Promise.all([quiet(resolver.resolve6(name)), quiet(resolver.resolve4(name))]);
    return [...six, ...four];
  }

  return {
    async recordId(domain) {
      let records: string[][];
      try {
        records = await resolver.resolveTxt(`_mta-sts.${domain}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOTFOUND" || code === "ENODATA") return undefined;
        throw new StsLookupError(`_mta-sts.${domain} TXT lookup failed: ${code ?? (err as Error).message}`);
      }
      return parseStsRecord(records)?.id;
    },

    async fetchPolicy(domain) {
      const host = `mta-sts.${domain}`;
      const addresses = await addressesOf(host);
      if (addresses.length === 0) throw new Error(`${host} has no address`);
      const deadline = AbortSignal.timeout(timeoutMs);
      let last: Error | undefined;
      // The next address only when this one cannot be reached; any answer is final.
      for (const address of addresses) {
        try {
          return await getPolicy(address, host, { port, maxBytes, signal: deadline, ca: options.ca });
        } catch (err) {
          last = err as Error;
          if (!(err instanceof Unreachable) || deadline.aborted) break;
        }
      }
      throw last ?? new Error(`${host} could not be reached`);
    },
  };
}

class Unreachable extends Error {}

function getPolicy(
  address: string,
  host: string,
  o: { port: number; maxBytes: number; signal: AbortSignal; ca: string | readonly string[] | undefined },
): Promise<string> {
  const url = `https://${host}${o.port === 443 ? "" : `:${o.port}`}/.well-known/mta-sts.txt`;
  return new Promise<string>((resolve, reject) => {
    let connected = false;
    const req = request(
      {
        host: address,
        port: o.port,
        path: "/.well-known/mta-sts.txt",
        method: "GET",
        // The certificate is checked against this name, not the address.
        servername: host,
        headers: { host: o.port === 443 ? host : `${host}:${o.port}`, accept: "text/plain" },
        agent: false,
        rejectUnauthorized: true,
        ...(o.ca === undefined ? {} : { ca: [o.ca].flat() }),
        signal: o.signal,
      },
      (res) => {
        const fail = (why: string) => {
          res.destroy();
          reject(new Error(`${url}: ${why}`));
        };
        // RFC 8461 3.3: no redirects; only 200 is a policy.
        if (res.statusCode !== 200)
          return fail(`HTTP ${res.statusCode} (only 200 is a policy; redirects are not followed)`);
        const type = String(res.headers["content-type"] ?? "");
        if (!/^text\/plain\b/i.test(type)) return fail(`Content-Type ${JSON.stringify(type)} is not text/plain`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > o.maxBytes) return fail(`policy larger than ${o.maxBytes} bytes`);
          chunks.push(chunk);
        });
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", (err) => reject(new Error(`${url}: ${err.message}`)));
      },
    );
    req.on("socket", (socket) => socket.once("connect", () => (connected = true)));
    req.on("error", (err) => {
      const message = `${url} [${address}]: ${o.signal.aborted ? "timed out" : err.message}`;
      reject(connected ? new Error(message) : new Unreachable(message));
    });
    req.end();
  });
}
