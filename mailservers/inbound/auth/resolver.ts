// DNS for the checks on arrival: one resolver per message, on the server of inbound.resolver
// (the system's when unset), each query bounded by inbound.dnsTimeout and all of them by the
// message's budget (inbound.authTimeout). A query past either fails as ETIMEOUT, which mailauth
// turns into a temperror for that check: a resolver that never answers costs a session at
// most the budget, never a stuck transaction; one that refuses (nothing listening) costs nothing.
import { Resolver } from "node:dns/promises";

/** mailauth's resolver: node's `resolve(name, rrtype)`. */
export type LookupRecords = (name: string, rrtype: string) => Promise<string[][] | string[]>;

export interface AuthDnsOptions {
  /** "IP", "IP:PORT" or "[IPv6]:PORT"; unset: the system's resolvers. */
  readonly server?: string;
  /** Longest wait for one query. */
  readonly timeoutMs: number;
  /** Longest all queries of one message may take together. */
  readonly budgetMs: number;
}

/** The lookups of one message; close() cancels what is still open. */
export interface MessageDns {
  readonly lookup: LookupRecords;
  close(): void;
}

function timedOut(name: string, rrtype: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`query${rrtype} ETIMEOUT ${name}: the checks' time is up`);
  error.code = "ETIMEOUT";
  return error;
}

/** A resolver per message, each with its own deadline. */
export function createAuthDns(options: AuthDnsOptions): () => MessageDns {
  return () => {
    const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
    if (options.server !== undefined) resolver.setServers([options.server]);
    const deadline = Date.now() + options.budgetMs;
    const timers = new Set<NodeJS.Timeout>();
    const lookup: LookupRecords = (name, rrtype) => {
      const left = deadline - Date.now();
      if (left <= 0) return Promise.reject(timedOut(name, rrtype));
      const query = resolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          reject(timedOut(name, rrtype));
        }, left);
        timers.add(timer);
        query.then(
          (records) => {
            clearTimeout(timer);
            timers.delete(timer);
            resolve(records);
          },
          (error: unknown) => {
            clearTimeout(timer);
            timers.delete(timer);
            reject(error as Error);
          },
        );
      });
    };
    return {
      lookup,
      close() {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        resolver.cancel();
      },
    };
  };
}
