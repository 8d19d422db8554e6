// Idle SMTP sessions kept open for the next message to the same destination, as Postfix's
// connection cache (scache). The sender puts a session back only after a transaction that
// ended well; the newest idle one is taken first. A session is let go when it has been
// unused for `idleMs`, when the server closes it, when more than `maxIdle` wait in all (the
// oldest goes), or when the cache closes.
//
// Per destination the cache needs no limit of its own: a session is opened only when none is
// idle for that destination, so the open ones (busy or idle) never outnumber the most
// deliveries to it at once, which the queue bounds (perDomainConcurrency, concurrency).

export interface ConnectionCacheOptions<C> {
  /** How long an unused session is kept; 0 keeps none. */
  idleMs: number;
  /** Most idle sessions over all destinations. */
  maxIdle: number;
  /** Ends a session the cache lets go. */
  dispose(connection: C): void;
  /** Calls `gone` when the session closes by itself; returns a function that stops watching. */
  watch(connection: C, gone: () => void): () => void;
}

export interface ConnectionCache<C> {
  /** The newest idle session to this destination, now the caller's; undefined when none. */
  take(destination: string): C | undefined;
  /** Keeps a session that is in order for the next message to its destination. */
  put(destination: string, connection: C): void;
  /** Sessions waiting. */
  readonly idle: number;
  /** Lets every idle session go; later ones are let go at once. */
  close(): void;
}

interface Idle<C> {
  readonly destination: string;
  readonly connection: C;
  timer?: NodeJS.Timeout;
  unwatch?: () => void;
}

export function createConnectionCache<C>(options: ConnectionCacheOptions<C>): ConnectionCache<C> {
  const byDestination = new Map<string, Array<Idle<C>>>();
  // Insertion order is age order: the first is the one idle longest.
  const all = new Set<Idle<C>>();
  let closed = false;

  function forget(entry: Idle<C>): void {
    clearTimeout(entry.timer);
    entry.unwatch?.();
    all.delete(entry);
    const list = byDestination.get(entry.destination) ?? [];
    const at = list.indexOf(entry);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) byDestination.delete(entry.destination);
  }

  function letGo(entry: Idle<C>): void {
    forget(entry);
    options.dispose(entry.connection);
  }

  return {
    take(destination) {
      const entry = byDestination.get(destination)?.at(-1);
      if (!entry) return undefined;
      forget(entry);
      return entry.connection;
    },
    put(destination, connection) {
      if (closed || options.idleMs <= 0 || options.maxIdle <= 0) return options.dispose(connection);
      const entry: Idle<C> = { destination, connection };
      const list = byDestination.get(destination) ?? [];
      list.push(entry);
      byDestination.set(destination, list);
      all.add(entry);
      entry.timer = setTimeout(() => letGo(entry), options.idleMs);
      entry.timer.unref();
      entry.unwatch = options.watch(connection, () => forget(entry));
      if (all.size > options.maxIdle) letGo(all.values().next().value!);
    },
    get idle() {
      return all.size;
    },
    close() {
      closed = true;
      for (const entry of [...all]) letGo(entry);
    },
  };
}
