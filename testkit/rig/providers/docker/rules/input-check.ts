// Check's test of the program's inputs against the fields the stand-in knows (field-rules.ts):
// an input upstream has and the stand-in does not fails loudly, a value of the wrong type
// fails, a required one must be there. Unknown values (a preview) pass until known.
import type { FieldRule, FieldRules } from "./field-rules.ts";
import { notSupported, type CheckFailure } from "../resource-kind.ts";
import { isObject, isUnknown, type Props } from "../wire.ts";

function fits(rule: FieldRule, value: unknown): boolean {
  switch (rule.shape) {
    case "string":
      return typeof value === "string";
    case "bool":
      return typeof value === "boolean";
    case "int":
      return Number.isInteger(value);
    case "stringList":
    case "stringSet":
      return Array.isArray(value) && value.every((v) => typeof v === "string" || isUnknown(v));
    case "stringMap":
      return isObject(value) && Object.values(value).every((v) => typeof v === "string" || isUnknown(v));
    case "object":
      return isObject(value);
    case "objectList":
    case "objectSet":
      return Array.isArray(value) && value.every((v) => isObject(v) || isUnknown(v));
  }
}

/** Failures of `props` against `rules`; `path` prefixes the names ("mounts[0]."). */
export function checkInputs(
  props: Props,
  rules: FieldRules,
  required: readonly string[] = [],
  path = "",
): CheckFailure[] {
  const failures: CheckFailure[] = [];
  for (const name of required) {
    if (props[name] === undefined || props[name] === null)
      failures.push({ property: `${path}${name}`, reason: `missing required property "${path}${name}"` });
  }
  for (const [name, value] of Object.entries(props)) {
    if (name.startsWith("__") || value === undefined || value === null || isUnknown(value)) continue;
    const rule = rules[name];
    const where = `${path}${name}`;
    if (rule === undefined) {
      failures.push({ property: where, reason: notSupported(`the input "${where}"`) });
    } else if (!fits(rule, value)) {
      failures.push({ property: where, reason: `"${where}" must be of type ${rule.shape}` });
    } else if (rule.fields && rule.shape === "object") {
      failures.push(...checkInputs(value as Props, rule.fields, [], `${where}.`));
    } else if (rule.fields) {
      (value as unknown[]).forEach((element, i) => {
        if (isObject(element)) failures.push(...checkInputs(element, rule.fields!, [], `${where}[${i}].`));
      });
    }
  }
  return failures;
}

/** A failure when the string at `property` does not match `pattern` (upstream's validators). */
export function checkPattern(property: string, value: unknown, pattern: RegExp, what: string): CheckFailure[] {
  if (typeof value !== "string" || pattern.test(value)) return [];
  return [{ property, reason: `"${property}" is ${JSON.stringify(value)}: ${what}` }];
}
