// Property values as the engine sends them to this stand-in: plain JSON (it tells the engine
// it takes no secrets, resources or outputs, so the engine strips and re-applies those
// itself), except unknown values during a preview, which arrive as one marker string. The
// engine does read a secret the stand-in returns (marked as in @pulumi/pulumi's runtime/rpc.js).
import structproto from "google-protobuf/google/protobuf/struct_pb.js";

export type Props = Record<string, unknown>;

/** An unknown (computed) value, as @pulumi/pulumi's runtime/rpc.js spells it. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** `value` marked secret for the engine (the state keeps it encrypted). */
export function secret(value: unknown): Props {
  return { [SPECIAL_SIG_KEY]: SECRET_SIG, value };
}

export function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

/** True when `value` is unknown or holds an unknown anywhere inside. */
export function containsUnknown(value: unknown): boolean {
  if (isUnknown(value)) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (isObject(value)) return Object.values(value).some(containsUnknown);
  return false;
}

export function isObject(value: unknown): value is Props {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A Struct from the engine as plain values (an absent Struct is an empty map). */
export function fromStruct(struct: structproto.Struct | undefined): Props {
  return (struct?.toJavaScript() ?? {}) as Props;
}

/** Plain values as a Struct: `undefined` members are dropped (a Struct has no such value). */
export function toStruct(props: Props): structproto.Struct {
  return structproto.Struct.fromJavaScript(
    JSON.parse(JSON.stringify(props)) as Record<string, structproto.JavaScriptValue>,
  );
}
