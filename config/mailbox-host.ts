// Which SEMail host holds a mailbox, when several share one users list (one VM became
// several): `host: b` in its entry, absent for the main host; `moving: b` while
// `semail mailbox move` copies it there. Hosts are named in the settings (`hosts`), the
// names here only checked for shape: a list is read before any host's settings are.

/** The host a mailbox without `host:` lives on. */
export const MAIN_HOST = "main";

/** A host's name: a DNS label, so it can name things on the host and in the zone. */
export const HOST_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** Why `name` cannot name a host, or undefined when it can. */
export function hostNameProblem(name: string): string | undefined {
  return HOST_NAME_PATTERN.test(name)
    ? undefined
    : `${JSON.stringify(name)} is not a host name: use a-z, 0-9 and '-' (at most 32, starting and ending with a letter or digit)`;
}

/** Where an entry's mailbox lives and where it is going, or undefined with each problem pushed (named by `at`). */
export function placementOf(
  host: unknown,
  moving: unknown,
  at: string,
  problems: string[],
): { host: string; moving?: string } | undefined {
  const before = problems.length;
  const name = (value: unknown, key: string): string => {
    const problem = typeof value === "string" ? hostNameProblem(value) : "is not a string";
    if (problem) problems.push(`${at}.${key} ${problem}`);
    return typeof value === "string" ? value : "";
  };
  const on = host === undefined ? MAIN_HOST : name(host, "host");
  const to = moving === undefined ? undefined : name(moving, "moving");
  if (to !== undefined && to === on) problems.push(`${at}.moving names the host it is on (${on}): drop moving`);
  if (problems.length > before) return undefined;
  return to === undefined ? { host: on } : { host: on, moving: to };
}
