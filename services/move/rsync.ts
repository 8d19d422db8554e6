// The copies, by rsync (Debian's package): archive mode with hard links, numeric ids (the mail
// uid is the same number on every host) and sparse files; over the operator's ssh when the
// target has one. The first pass runs while mail still arrives; the final one, with --delete and
// --checksum, once the source's daemon let go: a rewrite of the same size in the same second
// (an IMAP expunge or flag change) would pass rsync's quick check of size and time.
import { spawn } from "node:child_process";
import { RSYNC_FILTERS } from "./mailbox-files.ts";
import { MoveError } from "./move-error.ts";
import { describePlace, rsyncPath, rsyncShell } from "./place.ts";
import type { MovePlan } from "./plan.ts";

export interface CopyStats {
  /** Regular files in the copy, and their bytes. */
  readonly files: number;
  readonly bytes: number;
  /** Bytes of the files rsync sent in this pass (all of a changed file, before its delta). */
  readonly changedBytes: number;
}

/** rsync exits 24 when a file vanished while it read the folder: expected while mail arrives. */
const VANISHED = 24;
/** No data moving for this long stops rsync (its --timeout): the final pass holds the mail. */
const IO_TIMEOUT_S = 120;

/** The arguments of one pass from the mailbox root here to the target's. */
export function rsyncArguments(plan: MovePlan, pass: "first" | "final"): string[] {
  const shell = rsyncShell(plan.target);
  return [
    "--archive",
    "--hard-links",
    "--numeric-ids",
    "--sparse",
    "--stats",
    `--timeout=${IO_TIMEOUT_S}`,
    ...RSYNC_FILTERS,
    ...(pass === "final" ? ["--delete", "--checksum"] : []),
    ...(shell === undefined ? [] : ["-e", shell]),
    "--",
    `${plan.sourceRoot}/`,
    `${rsyncPath(plan.target, plan.targetRoot)}/`,
  ];
}

/** One pass of the copy; rejects with rsync's own words. */
export function copyMailbox(
  plan: MovePlan,
  pass: "first" | "final",
  signal?: AbortSignal,
  rsync = "rsync",
): Promise<CopyStats> {
  const args = rsyncArguments(plan, pass);
  return new Promise((resolve, reject) => {
    const child = spawn(rsync, args, { stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err = (err + chunk).slice(-2000)));
    child.on("error", (error) =>
      reject(
        new MoveError(
          error.name === "AbortError"
            ? `the ${pass} copy was stopped by a signal`
            : `cannot run ${rsync} (apt-get install rsync): ${error.message}`,
        ),
      ),
    );
    child.on("close", (code) => {
      if (code === 0 || (pass === "first" && code === VANISHED)) resolve(statsOf(out));
      else
        reject(
          new MoveError(
            `the ${pass} copy to ${describePlace(plan.target)} failed (rsync exit ${code}): ${err.trim().split("\n").slice(-3).join(" ")}`,
          ),
        );
    });
  });
}

/** The numbers of rsync's --stats. */
export function statsOf(output: string): CopyStats {
  const count = (pattern: RegExp) => Number((pattern.exec(output)?.[1] ?? "0").replaceAll(/[,.]/g, ""));
  return {
    files: count(/^Number of files: [\d,.]+ \(reg: ([\d,.]+)/m),
    bytes: count(/^Total file size: ([\d,.]+) bytes/m),
    changedBytes: count(/^Total transferred file size: ([\d,.]+) bytes/m),
  };
}
