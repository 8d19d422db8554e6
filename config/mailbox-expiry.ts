// A mailbox's expiry, as the users list gives it: `expires: 2027-01-31` (that day's 00:00
// UTC) or a full ISO date-time with its zone. From then on the mailbox receives nothing
// (550 5.1.1); its filesystem and mail stay until an administrator deletes the entry.

/** A date, or a date-time with seconds optional and an explicit zone (Z or ±hh:mm). */
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** The moment `written` names (ms since the epoch), or undefined when it is not an ISO date we take. */
export function parseExpiry(written: string): number | undefined {
  if (!ISO.test(written)) return undefined;
  // A day that does not exist (2027-02-30) would roll over into the next month: it must read back as written.
  const day = written.slice(0, 10);
  const dayAt = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(dayAt) || new Date(dayAt).toISOString().slice(0, 10) !== day) return undefined;
  const at = written.length === 10 ? dayAt : Date.parse(written);
  return Number.isNaN(at) ? undefined : at;
}

/** The expiry of an entry's `expires` value, or undefined with the problem pushed (named by `at`). */
export function expiryOf(value: unknown, at: string, problems: string[]): { at: number; written: string } | undefined {
  const written = typeof value === "string" ? value.trim() : undefined;
  const when = written === undefined ? undefined : parseExpiry(written);
  if (written === undefined || when === undefined) {
    problems.push(
      `${at} ${JSON.stringify(value)} is not an ISO date: write 2027-01-31 (00:00 UTC that day) or 2027-01-31T18:00:00Z`,
    );
    return undefined;
  }
  return { at: when, written };
}

/**
 * Why an owner may not set `written` as their mailbox's expiry at `now`, or undefined when
 * they may: it must be in the future and at most `maxMs` (web.maxExpiry) away. For the web
 * form; an administrator editing the list is bound by neither.
 */
export function ownerExpiryProblem(written: string, now: number, maxMs: number): string | undefined {
  const at = parseExpiry(written);
  if (at === undefined) return `${JSON.stringify(written)} is not a date: write e.g. 2027-01-31`;
  if (at <= now) return `${written} is not in the future`;
  if (at - now > maxMs) return `${written} is further away than the ${Math.floor(maxMs / 86_400_000)} days allowed`;
  return undefined;
}
