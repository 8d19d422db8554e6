// Property values as the engine sends them to a provider that accepts secrets: plain JSON,
// except secrets, assets and unknowns, which are objects (or a string) marked by signatures.
// The signatures are @pulumi/pulumi's (runtime/rpc.js); a test checks they still agree.

export const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";
export const ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7";
/** An unknown (computed) value during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** A resource's properties on the wire. */
export type Props = Record<string, unknown>;

function signature(value: unknown): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Props)[SPECIAL_SIG_KEY]
    : undefined;
}

export function isSecret(value: unknown): value is { value: unknown } {
  return signature(value) === SECRET_SIG;
}

export function secret(value: unknown): Props {
  return isSecret(value) ? value : { [SPECIAL_SIG_KEY]: SECRET_SIG, value };
}

export function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

export function isAsset(value: unknown): boolean {
  return signature(value) === ASSET_SIG;
}

export function isArchive(value: unknown): boolean {
  return signature(value) === ARCHIVE_SIG;
}

/** One level of secret taken off (the value a secret wraps, else the value itself). */
export function unwrapSecret(value: unknown): unknown {
  return isSecret(value) ? value.value : value;
}

/** The value with every secret wrapper taken off, at any depth: what a command runs with. */
export function reveal(value: unknown): unknown {
  const plain = unwrapSecret(value);
  if (Array.isArray(plain)) return plain.map(reveal);
  if (typeof plain === "object" && plain !== null) {
    return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, reveal(v)]));
  }
  return plain;
}

export function containsUnknown(value: unknown): boolean {
  const plain = unwrapSecret(value);
  if (isUnknown(plain)) return true;
  if (Array.isArray(plain)) return plain.some(containsUnknown);
  if (typeof plain === "object" && plain !== null) return Object.values(plain).some(containsUnknown);
  return false;
}

/** Equal as values, secretness aside (an unknown equals nothing, not even another unknown). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (containsUnknown(a) || containsUnknown(b)) return false;
  return canonical(reveal(a)) === canonical(reveal(b));
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}
