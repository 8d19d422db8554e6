// The diff of a bridged (Terraform) resource, as upstream's bridge gets it from Terraform's
// plan: each input the program gives is compared with the saved outputs (state, which Read
// refreshes), after Terraform's rules: an unset value equals its zero value; a Default
// stands in for an unset one; an Optional+Computed one left unset keeps what the state
// says; sets ignore order; a change to a ForceNew field replaces, any other updates.
import type { PropertyChange } from "../resource-kind.ts";
import { containsUnknown, isObject, type Props } from "../wire.ts";

export type Shape =
  | "string"
  | "bool"
  | "int"
  | "stringList"
  | "stringSet"
  | "stringMap"
  | "object"
  | "objectList"
  | "objectSet";

export interface FieldRule {
  readonly shape: Shape;
  /** Terraform's ForceNew: a change replaces the resource. */
  readonly forceNew?: boolean;
  /** Terraform's Default, used when the program leaves the field unset. */
  readonly default?: string | boolean | number;
  /** Optional+Computed: unset in the program, the state's value stands. */
  readonly computed?: boolean;
  /** An object's (or object list's or set's) fields. */
  readonly fields?: Readonly<Record<string, FieldRule>>;
  /** A DiffSuppressFunc of upstream's: true when the two values count as the same. */
  readonly same?: (old: unknown, now: unknown) => boolean;
}

export type FieldRules = Readonly<Record<string, FieldRule>>;

/** Labels, as upstream's bridge spells Terraform's label blocks (Container's and Network's). */
export const LABELS: FieldRule = {
  shape: "objectSet",
  forceNew: true,
  fields: { label: { shape: "string" }, value: { shape: "string" } },
};

function isZero(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value === "" ||
    value === false ||
    value === 0 ||
    (Array.isArray(value) && value.length === 0) ||
    (isObject(value) && Object.keys(value).length === 0)
  );
}

/** A value in Terraform's canonical form for `rule` (unset and zero agree; sets sorted). */
export function normalize(rule: FieldRule, value: unknown): unknown {
  const given = value ?? rule.default;
  switch (rule.shape) {
    case "string":
      return given ?? "";
    case "bool":
      return given ?? false;
    case "int":
      return given ?? 0;
    case "stringList":
      return Array.isArray(given) ? given : [];
    case "stringSet":
      return Array.isArray(given) ? [...new Set(given as string[])].sort() : [];
    case "stringMap":
      return isObject(given) ? Object.fromEntries(Object.entries(given).sort(([a], [b]) => a.localeCompare(b))) : {};
    case "object": {
      if (!isObject(given)) return null;
      const out: Props = {};
      for (const [key, field] of Object.entries(rule.fields ?? {})) out[key] = normalize(field, given[key]);
      // A block of nothing but zero values is no block (as Terraform drops it when read back).
      return Object.values(out).every(isZero) ? null : out;
    }
    case "objectList":
      return Array.isArray(given) ? given.map((e) => normalize({ ...rule, shape: "object" }, e)) : [];
    case "objectSet":
      return Array.isArray(given)
        ? given.map((e) => JSON.stringify(normalize({ ...rule, shape: "object" }, e))).sort()
        : [];
  }
}

/** True when `old` (state) and `now` (program) are the same value for `rule`. */
export function sameValue(rule: FieldRule, old: unknown, now: unknown): boolean {
  if (rule.same) return rule.same(old, now);
  return JSON.stringify(normalize(rule, old)) === JSON.stringify(normalize(rule, now));
}

/** What the program's value of a field comes to: its own, else the Default, else (Computed) the state's. */
export function effectiveValue(rule: FieldRule, olds: Props, news: Props, key: string): unknown {
  const given = news[key];
  if (given !== undefined && given !== null) return given;
  if (rule.default !== undefined) return rule.default;
  return rule.computed ? olds[key] : undefined;
}

export interface FieldDiff {
  readonly changes: Record<string, PropertyChange>;
  readonly replaces: string[];
}

/** The fields that differ between the state and the program, and which of them replace. */
export function diffFields(rules: FieldRules, olds: Props, news: Props): FieldDiff {
  const changes: Record<string, PropertyChange> = {};
  const replaces: string[] = [];
  for (const [key, rule] of Object.entries(rules)) {
    const now = effectiveValue(rule, olds, news, key);
    // An unknown value (a preview) may differ: Terraform plans the change.
    const differs = containsUnknown(now) || !sameValue(rule, olds[key], now);
    if (!differs) continue;
    changes[key] =
      olds[key] === undefined || olds[key] === null ? "add" : now === undefined || now === null ? "delete" : "update";
    if (rule.forceNew) replaces.push(key);
  }
  return { changes, replaces };
}

/** The state after an update, as Terraform plans it: the program's values over the old outputs. */
export function plannedOutputs(rules: FieldRules, olds: Props, news: Props): Props {
  const out: Props = { ...olds };
  for (const [key, rule] of Object.entries(rules)) out[key] = effectiveValue(rule, olds, news, key) ?? null;
  return out;
}
