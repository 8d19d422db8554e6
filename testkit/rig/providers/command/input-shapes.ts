// Check's type test of a property map: each known input has a shape; an input the stand-in
// does not know fails loudly (upstream has more: logging, password, agent...). Unknown
// values (preview) pass: they are checked again when known.
import { isArchive, isAsset, isUnknown, reveal, type Props } from "./wire-values.ts";
import { notSupported, type CheckFailure } from "./resource-kind.ts";

export type Shape =
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "array"
  | "object"
  | "string map"
  | "asset or archive";

function fits(value: unknown, shape: Shape): boolean {
  switch (shape) {
    case "string":
      return typeof value === "string";
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "string map":
      return fits(value, "object") && Object.values(value as Props).every((v) => typeof v === "string" || isUnknown(v));
    case "asset or archive":
      return isAsset(value) || isArchive(value);
  }
}

/** Failures for `props` against `shapes` (all optional but `required`); `path` prefixes names. */
export function checkShapes(
  props: Props,
  shapes: Readonly<Record<string, Shape>>,
  required: readonly string[],
  path = "",
): CheckFailure[] {
  const failures: CheckFailure[] = [];
  for (const name of required) {
    if (props[name] === undefined || props[name] === null)
      failures.push({ property: `${path}${name}`, reason: `missing required property "${path}${name}"` });
  }
  for (const [name, value] of Object.entries(props)) {
    if (name.startsWith("__") || value === undefined || value === null) continue;
    const shape = shapes[name];
    if (shape === undefined) {
      failures.push({ property: `${path}${name}`, reason: notSupported(`the input "${path}${name}"`) });
    } else if (!isUnknown(reveal(value)) && !fits(reveal(value), shape)) {
      failures.push({ property: `${path}${name}`, reason: `"${path}${name}" must be a ${shape}` });
    }
  }
  return failures;
}
