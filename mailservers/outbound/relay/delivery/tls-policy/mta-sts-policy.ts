// MTA-STS (RFC 8461) as text: the `_mta-sts` TXT record (3.1), the policy file (3.2), and
// whether an MX host name matches the policy's mx patterns (4.1). Pure: no network here.

export type StsMode = "enforce" | "testing" | "none";

export interface StsPolicy {
  mode: StsMode;
  /** mx patterns, lower case, without a trailing dot: "mail.example.com" or "*.example.net". */
  mx: string[];
  /** Seconds the policy may be cached (at most 31557600, a year). */
  maxAge: number;
}

/** RFC 8461 3.2: max_age is at most one year. */
export const MAX_AGE_LIMIT = 31_557_600;

/**
 * The policy id of a domain's `_mta-sts` TXT answer (each record as its strings); undefined when
 * there is no valid record: none starts with "v=STSv1", more than one does, or its id is malformed.
 */
export function parseStsRecord(records: readonly (readonly string[])[]): { id: string } | undefined {
  const sts = records.map((strings) => strings.join("")).filter((text) => /^v=STSv1(;|$|\s)/.test(text));
  // RFC 8461 3.1: more than one record is as if there were none.
  if (sts.length !== 1) return undefined;
  const fields = new Map<string, string>();
  for (const field of sts[0]!.split(";")) {
    const at = field.indexOf("=");
    if (at < 0) continue;
    const key = field.slice(0, at).trim();
    if (!fields.has(key)) fields.set(key, field.slice(at + 1).trim());
  }
  const id = fields.get("id");
  return id !== undefined && /^[A-Za-z0-9]{1,32}$/.test(id) ? { id } : undefined;
}

/** Parses a policy file; throws an Error saying what is wrong. */
export function parseStsPolicy(text: string): StsPolicy {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const at = line.indexOf(":");
    if (at < 0) throw new Error(`policy line ${JSON.stringify(line.slice(0, 80))} is not "key: value"`);
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (key === "mx") mx.push(value.toLowerCase().replace(/\.$/, ""));
    // A repeated field other than mx: the first one counts.
    else if (!fields.has(key)) fields.set(key, value);
  }
  if (fields.get("version") !== "STSv1") throw new Error('policy has no "version: STSv1"');
  const mode = fields.get("mode");
  if (mode !== "enforce" && mode !== "testing" && mode !== "none")
    throw new Error(`policy mode ${JSON.stringify(mode ?? "")} is not enforce, testing or none`);
  const age = fields.get("max_age");
  if (age === undefined || !/^\d{1,10}$/.test(age)) throw new Error("policy has no valid max_age");
  const maxAge = Math.min(Number(age), MAX_AGE_LIMIT);
  for (const pattern of mx) {
    if (!/^(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(pattern))
      throw new Error(`policy mx ${JSON.stringify(pattern)} is not a host name or "*." and a host name`);
  }
  if (mode !== "none" && mx.length === 0) throw new Error(`policy in mode ${mode} names no mx`);
  return { mode, mx, maxAge };
}

/** RFC 8461 4.1: a pattern is a name, or "*." and a name, where "*" stands for exactly one leftmost label. */
export function mxMatches(pattern: string, host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  const p = pattern.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return name === p;
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot + 1) === p.slice(2);
}

/** True when the host name matches one of the policy's mx patterns. */
export function policyAllows(policy: Pick<StsPolicy, "mx">, host: string): boolean {
  return policy.mx.some((pattern) => mxMatches(pattern, host));
}
