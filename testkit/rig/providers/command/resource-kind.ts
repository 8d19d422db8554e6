// What the gRPC server asks of each resource type the stand-in serves (remote Command,
// CopyToRemote): the provider protocol's steps, on wire values (see wire-values.ts).
import type { Props } from "./wire-values.ts";

export interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

export interface CheckResult {
  /** The inputs to keep: the program's, with upstream's defaults and secrets applied. */
  readonly inputs: Props;
  readonly failures: readonly CheckFailure[];
}

export type PropertyChange = "add" | "delete" | "update";

export interface DiffResult {
  readonly changed: boolean;
  /** The top-level inputs that changed, and how. */
  readonly changes: Readonly<Record<string, PropertyChange>>;
  /** The changed inputs that force a replacement. */
  readonly replaces: readonly string[];
}

export interface Operation {
  /** The engine's preview: nothing may run. */
  readonly preview: boolean;
  /** The resource's name (from its URN). */
  readonly name: string;
  /** Aborted when the engine cancels: running commands stop. */
  readonly signal: AbortSignal;
}

export interface ResourceKind {
  /** Outputs that are no input (so an old state can stand in for old inputs). */
  readonly outputsOnly: readonly string[];
  check(news: Props): CheckResult;
  diff(oldInputs: Props, news: Props): DiffResult;
  create(inputs: Props, op: Operation): Promise<{ id: string; outputs: Props }>;
  /** `olds` are the last outputs (state), `news` the checked inputs. */
  update(olds: Props, news: Props, op: Operation): Promise<Props>;
  /** Runs with the state the resource had (upstream: the OLD inputs and outputs). */
  delete(olds: Props, op: Omit<Operation, "preview">): Promise<void>;
}

/** The loud refusal for anything upstream has and the stand-in does not. */
export function notSupported(what: string): string {
  return `${what} is not supported by the SEMail test rig stand-in for pulumi-resource-command`;
}
