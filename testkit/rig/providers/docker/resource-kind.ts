// What the gRPC server (grpc-server.ts) asks of each resource type the stand-in serves
// (Image, Network, Container): the provider protocol's steps on plain values (wire.ts).
import type { Props } from "./wire.ts";

export interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

export interface CheckContext {
  /** The resource's name (from its URN), for auto-naming. */
  readonly name: string;
  /** The engine's random seed for this resource: the same seed gives the same auto-name. */
  readonly seed: Uint8Array;
}

export interface CheckResult {
  /** The inputs to keep: the program's, with upstream's defaults applied. */
  readonly inputs: Props;
  readonly failures: readonly CheckFailure[];
}

export type PropertyChange = "add" | "delete" | "update";

export interface DiffResult {
  /** The inputs that changed, and how (empty: no change). */
  readonly changes: Readonly<Record<string, PropertyChange>>;
  /** The changed inputs that force a replacement. */
  readonly replaces: readonly string[];
  /** Upstream deletes the old one first when it replaces (the name is taken otherwise). */
  readonly deleteBeforeReplace: boolean;
}

export interface Created {
  /** "" in a preview that made nothing. */
  readonly id: string;
  readonly outputs: Props;
}

export interface ResourceKind {
  check(olds: Props, news: Props, context: CheckContext): CheckResult | Promise<CheckResult>;
  /** `olds` are the saved outputs (state), `news` the checked inputs. */
  diff(olds: Props, news: Props): DiffResult;
  create(news: Props, preview: boolean): Promise<Created>;
  /** The live resource's outputs, or undefined when it is gone. */
  read(id: string, olds: Props, oldInputs: Props): Promise<Props | undefined>;
  update(id: string, olds: Props, news: Props, preview: boolean): Promise<Props>;
  delete(id: string, olds: Props): Promise<void>;
}

/** The loud refusal for anything upstream has and the stand-in does not. */
export function notSupported(what: string): string {
  return `${what} is not supported by the SEMail test rig stand-in for pulumi-resource-docker`;
}
