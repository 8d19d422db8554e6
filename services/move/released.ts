// The source's inbound daemon lets go of a mailbox once its users list says "moving": its
// appends in flight finish, its files are closed, later mail gets a 451; then it writes
// its note (config/mailbox-release.ts; mailservers/inbound's side of the contract). The
// move waits for that file, written since the switch, for this host and this target.
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { ReleaseNote } from "../../config/mailbox-release.ts";

/** The release in `file` when it is the one asked for, written at or after `since` (ms). */
export async function readRelease(
  file: string,
  want: { readonly owner: string; readonly host: string; readonly to: string; readonly since: number },
): Promise<ReleaseNote | undefined> {
  let data: Partial<ReleaseNote>;
  try {
    data = JSON.parse(await readFile(file, "utf8")) as Partial<ReleaseNote>;
  } catch {
    return undefined; // not there yet, or half written by a daemon that writes in place
  }
  const at = typeof data.at === "string" ? Date.parse(data.at) : Number.NaN;
  // An older file is from an earlier move the daemon has not cleared yet: not this release.
  if (data.owner !== want.owner || data.host !== want.host || data.to !== want.to || !(at >= want.since))
    return undefined;
  return data as ReleaseNote;
}

/** Polls for the release until `timeoutMs` has passed (or `signal` aborts); undefined when it never came. */
export async function waitForRelease(
  file: string,
  want: { readonly owner: string; readonly host: string; readonly to: string; readonly since: number },
  timeoutMs: number,
  signal?: AbortSignal,
  everyMs = 50,
): Promise<ReleaseNote | undefined> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(everyMs)) {
    const released = await readRelease(file, want);
    if (released) return released;
    if (Date.now() >= deadline || signal?.aborted) return undefined;
  }
}
