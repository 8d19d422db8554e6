// Server-side sessions: the cookie holds only a random id (signed by @fastify/cookie);
// who is logged in, and the CSRF token of their forms, stay here in memory.
import { randomBytes, timingSafeEqual } from "node:crypto";

export interface Session {
  readonly id: string;
  /** The owner's LDAP uid, as the directory returned it. */
  readonly uid: string;
  readonly displayName?: string;
  /** Member of the admin group at login; admin writes ask the directory again. */
  readonly admin: boolean;
  /** Synchronizer token every POST form of this session must carry. */
  readonly csrf: string;
  lastSeen: number;
}

export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Constant-time comparison of two tokens (different lengths are simply unequal). */
export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== "string" || typeof b !== "string" || a.length === 0) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface SessionStoreOptions {
  /** A session unused this long ends. */
  readonly idleMs: number;
  readonly clock: () => number;
  /** Bound on memory: the least recently used sessions go first. */
  readonly maxSessions?: number;
}

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #clock: () => number;
  readonly #max: number;

  constructor(options: SessionStoreOptions) {
    this.#idleMs = options.idleMs;
    this.#clock = options.clock;
    this.#max = options.maxSessions ?? 10_000;
  }

  /** A new session with fresh id and token: a login never reuses an id the browser had (fixation). */
  create(user: { uid: string; displayName?: string; admin: boolean }): Session {
    const session: Session = {
      id: randomToken(),
      uid: user.uid,
      ...(user.displayName !== undefined ? { displayName: user.displayName } : {}),
      admin: user.admin,
      csrf: randomToken(),
      lastSeen: this.#clock(),
    };
    this.#sessions.set(session.id, session);
    for (const oldest of this.#sessions.keys()) {
      if (this.#sessions.size <= this.#max) break;
      this.#sessions.delete(oldest);
    }
    return session;
  }

  /** The live session for an id, touched; undefined when unknown or idle too long. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    const now = this.#clock();
    if (now - session.lastSeen > this.#idleMs) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    // Re-insert so the map stays in least-recently-used order.
    this.#sessions.delete(id);
    this.#sessions.set(id, session);
    return session;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }

  get size(): number {
    return this.#sessions.size;
  }
}
