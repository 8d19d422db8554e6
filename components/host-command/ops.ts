// What HostCommand's dynamic provider does on the host, over ssh: run the command, then its
// check, whose output (hashed) is what the command left there; at a refresh the check runs
// again, so a hand change shows as a different hash. Loaded by the provider at run time
// (host-command.ts says why), so it imports only what Node has and lib/.
import { createHash } from "node:crypto";
import { sshExec, SshError, type SshTarget } from "../../lib/ssh-exec.ts";

export interface HostCommandInputs {
  readonly connection: SshTarget;
  /** A shell line; runs on create and on every update. */
  readonly create: string;
  readonly stdin?: string | undefined;
  /** A shell line whose output describes what `create` left on the host; exits non-zero when it is gone. */
  readonly check: string;
  /** A shell line run on delete; nothing when absent. */
  readonly delete?: string | undefined;
}

export interface HostCommandState extends HostCommandInputs {
  /** sha256 of the check's output right after `create` ran. */
  readonly expected: string;
  /** sha256 of the check's output at the last refresh (or create). */
  readonly actual: string;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function failure(what: string, err: unknown): Error {
  return err instanceof SshError ? new Error(`${what}: ${err.message}`) : (err as Error);
}

export async function runHostCommand(inputs: HostCommandInputs): Promise<HostCommandState> {
  await sshExec(inputs.connection, inputs.create, inputs.stdin ?? "").catch((err: unknown) => {
    throw failure("create", err);
  });
  const { stdout } = await sshExec(inputs.connection, inputs.check).catch((err: unknown) => {
    throw failure("the check after create", err);
  });
  const hash = sha256(stdout);
  return { ...inputs, expected: hash, actual: hash };
}

/** The state with what the check sees now; undefined when the check says it is gone. */
export async function checkHostCommand(state: HostCommandState): Promise<HostCommandState | undefined> {
  try {
    const { stdout } = await sshExec(state.connection, state.check);
    return { ...state, actual: sha256(stdout) };
  } catch (err) {
    if (err instanceof SshError && err.code !== null && err.code !== 255) return undefined;
    throw failure("check", err);
  }
}

export async function deleteHostCommand(state: HostCommandState): Promise<void> {
  if (state.delete) {
    await sshExec(state.connection, state.delete).catch((err: unknown) => {
      throw failure("delete", err);
    });
  }
}

/** What makes `up` run the command again: a changed line or stdin, or the host no longer as it left it. */
export function hostCommandDiffs(olds: HostCommandState, news: HostCommandInputs): string[] {
  const diffs: string[] = (["create", "stdin", "check", "delete"] as const).filter(
    (key) => (olds[key] ?? "") !== (news[key] ?? ""),
  );
  if (olds.actual !== olds.expected) diffs.push("actual");
  return diffs;
}
