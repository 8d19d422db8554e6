// The engine's events as plain steps: one line per resource as the engine reports it, and
// the list of what a preview would change (for drift). Pure functions of the events.
import type { EngineEvent, OpType, StepEventMetadata } from "@pulumi/pulumi/automation/index.js";

/** What the engine did, or would do, to one resource. */
export interface Step {
  readonly op: OpType;
  /** The resource's type token, e.g. docker:index/container:Container. */
  readonly type: string;
  /** Its name in the program (the last part of the URN). */
  readonly name: string;
  /** The properties that differ (what a replace is keyed on, for a replace). */
  readonly properties: readonly string[];
}

/** Operations that leave a resource as it is. */
const UNCHANGED: ReadonlySet<OpType> = new Set(["same", "read", "refresh", "discard"]);
/** Halves of a replacement reported again by the `replace` step itself. */
const REPLACE_HALVES: ReadonlySet<OpType> = new Set([
  "create-replacement",
  "delete-replaced",
  "read-replacement",
  "discard-replaced",
]);

const SYMBOL: Readonly<Partial<Record<OpType, string>>> = {
  create: "+",
  update: "~",
  delete: "-",
  replace: "+-",
  import: "=",
  refresh: "~",
};

function nameOf(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

function stepOf(m: StepEventMetadata): Step {
  const properties = [...new Set([...(m.diffs ?? []), ...(m.op === "replace" ? (m.keys ?? []) : [])])].sort();
  return { op: m.op, type: m.type, name: nameOf(m.urn), properties };
}

/** The step an event reports as done (resOutputs) or planned (resourcePre in a preview). */
export function stepOfEvent(event: EngineEvent, planned: boolean): Step | undefined {
  const metadata = planned ? event.resourcePreEvent?.metadata : event.resOutputsEvent?.metadata;
  if (metadata === undefined || metadata.type === "pulumi:pulumi:Stack") return undefined;
  return stepOf(metadata);
}

/** True for a step that changes something (not same/read/refresh, not half of a replace). */
export function isChange(step: Step): boolean {
  return !UNCHANGED.has(step.op) && !REPLACE_HALVES.has(step.op);
}

/** "~ update  docker:index/container:Container  inbound-container  (envs, image)". */
export function stepLine(step: Step): string {
  const props = step.properties.length > 0 ? `  (${step.properties.join(", ")})` : "";
  return `${(SYMBOL[step.op] ?? "*").padEnd(2)} ${step.op.padEnd(7)} ${step.type}  ${step.name}${props}`;
}

/** A failed resource's error, from the engine's diagnostics (they name the URN). */
export function errorOfEvent(event: EngineEvent): { name: string; message: string } | undefined {
  const d = event.diagnosticEvent;
  if (d === undefined || d.severity !== "error" || d.urn === undefined) return undefined;
  return { name: nameOf(d.urn), message: d.message.trim() };
}
