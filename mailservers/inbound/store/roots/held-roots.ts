// Mailbox roots whose filesystem is about to be unmounted, resized or removed. A hold waits
// for the commits under way in that root, then keeps new ones out until it is let go, so the
// store has nothing open there: an unmount never meets EBUSY from us. A delivery to a held
// root waits (bounded) instead of being refused at once: a resize lasts seconds.
import { MailboxHeldError } from "../errors.ts";

interface Root {
  /** Holds taken and not let go (a root may be held twice: an unmount during a resize). */
  holds: number;
  /** Commits under way in it. */
  users: number;
  /** Resolve when the holds are let go (deliveries waiting to enter). */
  onFree: Array<() => void>;
  /** Resolve when the last commit under way leaves (holds waiting to take it). */
  onEmpty: Array<() => void>;
}

export class HeldRoots {
  readonly #roots = new Map<string, Root>();
  readonly #waitMs: number;

  /** `waitMs`: how long a delivery waits for a held root before MailboxHeldError. */
  constructor(waitMs: number) {
    this.#waitMs = waitMs;
  }

  #root(root: string): Root {
    let entry = this.#roots.get(root);
    if (!entry) {
      entry = { holds: 0, users: 0, onFree: [], onEmpty: [] };
      this.#roots.set(root, entry);
    }
    return entry;
  }

  #forget(root: string, entry: Root): void {
    if (entry.holds === 0 && entry.users === 0 && entry.onFree.length === 0) this.#roots.delete(root);
  }

  isHeld(root: string): boolean {
    return (this.#roots.get(root)?.holds ?? 0) > 0;
  }

  /**
   * Enters every root of a commit once none is held; answers the function that leaves them.
   * Throws MailboxHeldError if one is still held after the wait.
   */
  async enter(roots: readonly string[]): Promise<() => void> {
    const unique = [...new Set(roots)];
    const deadline = Date.now() + this.#waitMs;
    for (;;) {
      const held = unique.find((root) => this.isHeld(root));
      if (held === undefined) break;
      if (!(await this.#freed(held, deadline - Date.now()))) throw new MailboxHeldError(held, this.#waitMs);
    }
    for (const root of unique) this.#root(root).users++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      for (const root of unique) {
        const entry = this.#root(root);
        if (--entry.users === 0) for (const empty of entry.onEmpty.splice(0)) empty();
        this.#forget(root, entry);
      }
    };
  }

  /** Whether `root`'s holds are let go within `ms`. */
  #freed(root: string, ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    const entry = this.#root(root);
    return new Promise((resolve) => {
      const free = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        entry.onFree.splice(entry.onFree.indexOf(free), 1);
        this.#forget(root, entry);
        resolve(false);
      }, ms);
      entry.onFree.push(free);
    });
  }

  /** Holds `root`: new commits wait; resolves once the commits under way have left. Answers the let-go. */
  async hold(root: string): Promise<() => void> {
    const entry = this.#root(root);
    entry.holds++;
    let letGo = false;
    const release = () => {
      if (letGo) return;
      letGo = true;
      if (--entry.holds === 0) for (const free of entry.onFree.splice(0)) free();
      this.#forget(root, entry);
    };
    // Commits are bounded (the lock wait, the writes): no timeout of our own.
    if (entry.users > 0) await new Promise<void>((empty) => entry.onEmpty.push(empty));
    return release;
  }
}
