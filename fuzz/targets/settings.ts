// The settings file (config/settings.ts): YAML, checked against the schema, parsed once into typed
// values. Property: a file the parser accepts, written back (each typed value as the text it was
// parsed from: listen specs and networks as their `spec`, sizes and durations as numbers), parses
// to the same settings: nothing a parse yields is a value the parser would refuse or read otherwise.
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { ConfigError, parseSettings, type Settings } from "../../config/settings.ts";
import { Input } from "../input.ts";

/** Settings as a file would hold them: a parsed value with a `spec` is written as that spec. */
export function writtenForm(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(writtenForm);
  if (value !== null && typeof value === "object") {
    const spec = (value as { spec?: unknown }).spec;
    if (typeof spec === "string") return spec;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, writtenForm(v)]));
  }
  return value;
}

/** The settings from YAML text, or undefined where the parser refuses them (as start-up would). */
function load(text: string): Settings | undefined {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch {
    return undefined;
  }
  if (raw !== null && (typeof raw !== "object" || Array.isArray(raw))) return undefined;
  try {
    return parseSettings(raw, "fuzz");
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
}

const SECTIONS = ["ldap", "inbound", "outbound", "web", "imap", "webmail", "acme", "tls", "log"];

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  let text: string;
  if (input.bool()) text = input.rest().toString("utf8");
  else {
    // A structured file: a section and a key chosen by the fuzzer, with a value of its making.
    const doc: Record<string, unknown> = {};
    for (let n = input.int(3); n > 0; n--) {
      const section = input.pick(SECTIONS);
      const key = input.string(24);
      const value = input.bool() ? input.string(60) : input.bool() ? input.int(2 ** 40) : [input.string(40)];
      doc[section] = { ...(doc[section] as object | undefined), [key]: value };
    }
    text = `${stringify(doc)}${input.rest().toString("utf8")}`;
  }
  const first = load(text);
  if (first === undefined) return;
  const written = stringify(writtenForm(first));
  const second = load(written);
  assert.ok(second, `the settings written back are refused:\n${written}`);
  assert.deepEqual(second, first, "the settings written back mean the same");
}
