// The check after the final copy: every file on both sides hashed (sha256sum, run where the
// file is, over the same ssh as the copy) and the two lists equal, name for name and byte for
// byte. Any difference stops the move before the handover, naming the files.
import { HASH_FILES, relativeName } from "./mailbox-files.ts";
import { MoveError } from "./move-error.ts";
import { runAt, type Place } from "./place.ts";
import type { MovePlan } from "./plan.ts";

/** Hashing reads the whole mailbox on each side: minutes for gigabytes, never forever. */
const HASH_TIMEOUT_MS = 30 * 60_000;

/** path → sha256 of every copied file of `root` at `place`. */
export async function hashesAt(place: Place, root: string, signal?: AbortSignal): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const listing = await runAt(place, HASH_FILES, [root], {
    timeoutMs: HASH_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
  });
  for (const line of listing.split("\n")) {
    if (line === "") continue;
    // sha256sum starts a line with "\" when it escaped the name; both sides escape alike.
    const match = /^\\?([0-9a-f]{64}) [ *](.*)$/.exec(line);
    if (!match) throw new MoveError(`sha256sum at host ${place.host} wrote an unexpected line: ${line.slice(0, 120)}`);
    hashes.set(relativeName(match[2]!), match[1]!);
  }
  return hashes;
}

/** The differences between two hash lists, one line each; none when the copies are equal. */
export function differences(source: ReadonlyMap<string, string>, target: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [name, hash] of source) {
    const there = target.get(name);
    if (there === undefined) found.push(`${name} is missing on the target`);
    else if (there !== hash) found.push(`${name} differs`);
  }
  for (const name of target.keys()) if (!source.has(name)) found.push(`${name} is only on the target`);
  return found;
}

/** Compares the two mailbox roots; resolves with the number of files compared. */
export async function verifyCopy(plan: MovePlan, signal?: AbortSignal): Promise<number> {
  const [source, target] = await Promise.all([
    hashesAt(plan.source, plan.sourceRoot, signal),
    hashesAt(plan.target, plan.targetRoot, signal),
  ]);
  const found = differences(source, target);
  if (found.length > 0)
    throw new MoveError(
      `the copy on host ${plan.target.host} is not the mailbox here (${found.length} difference${found.length === 1 ? "" : "s"}: ${found.slice(0, 5).join("; ")}${found.length > 5 ? "; ..." : ""})`,
    );
  return source.size;
}
