// Bookkeeping for a fault row: every message carries a tag (its Subject, `fault-<n>`); the
// ledger knows which tags got a 250, and the tally compares that with where the tags arrived.

/** The Subject that marks message n of a fault row. */
export function faultTag(n: number): string {
  return `fault-${n}`;
}

export interface Tally {
  readonly sent: number;
  readonly accepted: number;
  /** Accepted tags found in their mailbox (or at their destination) at least once. */
  readonly delivered: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly lostTags: readonly string[];
  readonly duplicatedTags: readonly string[];
  /** Tags that arrived although their sender never got a 250: a refused message must not land. */
  readonly unacceptedTags: readonly string[];
}

export class Ledger {
  readonly #sent = new Set<string>();
  readonly #accepted = new Set<string>();
  readonly #refused = new Map<string, string>();

  sent(tag: string): void {
    this.#sent.add(tag);
  }

  accepted(tag: string): void {
    this.#sent.add(tag);
    this.#accepted.add(tag);
  }

  /** A reply other than 250 (kept for the row's note), or a dropped connection. */
  refused(tag: string, reply: string): void {
    this.#sent.add(tag);
    this.#refused.set(tag, reply);
  }

  get refusals(): ReadonlyMap<string, string> {
    return this.#refused;
  }

  /** Replies by their code and enhanced status ("452 4.2.2": 17), for the row's note. */
  refusalSummary(): string {
    const counts = new Map<string, number>();
    for (const reply of this.#refused.values()) {
      const key = /^\d{3}(?: \d\.\d{1,3}\.\d{1,3})?/.exec(reply)?.[0] ?? reply.slice(0, 40);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([key, n]) => `${key} ×${n}`).join(", ");
  }

  /**
   * Compares with `arrivals`: how many times each tag arrived in one place (one INBOX, or one
   * destination's mailbox for one recipient). Call it once per place and merge, or pass the
   * counts of the one place that every accepted message must reach.
   */
  tally(arrivals: ReadonlyMap<string, number>): Tally {
    const lostTags = [...this.#accepted].filter((tag) => !arrivals.has(tag));
    const duplicatedTags = [...arrivals].filter(([, n]) => n > 1).map(([tag]) => tag);
    const unacceptedTags = [...arrivals.keys()].filter((tag) => !this.#accepted.has(tag));
    return {
      sent: this.#sent.size,
      accepted: this.#accepted.size,
      delivered: this.#accepted.size - lostTags.length,
      lost: lostTags.length,
      duplicated: duplicatedTags.length,
      lostTags,
      duplicatedTags,
      unacceptedTags,
    };
  }
}

/** How often each Subject occurs among `subjects` (an mbox's messages, a sink's received mail). */
export function countTags(subjects: Iterable<string | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const subject of subjects) {
    if (subject === undefined || !/^fault-\d+$/.test(subject)) continue;
    counts.set(subject, (counts.get(subject) ?? 0) + 1);
  }
  return counts;
}
