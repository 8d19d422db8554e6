// One ssh connection for the whole move: each ssh costs a key exchange (about a second on a
// busy host), and a move makes a dozen calls, four of them while the mailbox answers 451. The
// first call opens a master (OpenSSH's ControlMaster) that the others share; it ends with the
// move, or by itself after a minute idle if the move was killed.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sshArguments, type Place } from "./place.ts";

/** Runs `use` with `sshCommand` extended to share one connection per host; closes them after. */
export async function withSharedSsh<T>(
  sshCommand: readonly string[],
  use: (shared: readonly string[]) => Promise<T>,
  places: () => readonly Place[],
): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "semail-move-ssh-"));
  const shared = [
    ...sshCommand,
    "-o",
    "ControlMaster=auto",
    "-o",
    `ControlPath=${path.join(dir, "%C")}`,
    "-o",
    "ControlPersist=60",
  ];
  try {
    return await use(shared);
  } finally {
    for (const place of places()) if (place.ssh) await closeMaster(place);
    await rm(dir, { recursive: true, force: true });
  }
}

/** `ssh -O exit` for `place`'s master, if one runs; bounded, its failure ignored (none ran). */
function closeMaster(place: Place): Promise<void> {
  const args = sshArguments(place);
  return new Promise((resolve) => {
    const child = spawn(args[0]!, [...args.slice(1, -1), "-O", "exit", args.at(-1)!], {
      stdio: "ignore",
      timeout: 10_000,
    });
    child.on("error", () => resolve());
    child.on("close", () => resolve());
  });
}
