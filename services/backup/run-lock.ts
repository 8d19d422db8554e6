// One backup or restore at a time on this machine: they share the staging folder in
// backup.stateDir (restic locks its repository, not our folder). A file holding our pid, made
// exclusively; one left by a process that is gone (a crash, a reboot in a container) is taken over.
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { processRunning } from "../../lib/process-alive.ts";

export class BackupRunningError extends Error {
  override readonly name = "BackupRunningError";
}

/** Runs `work` holding `<stateDir>/run.pid`; throws BackupRunningError while another run holds it. */
export async function withRunLock<T>(stateDir: string, work: () => Promise<T>): Promise<T> {
  const file = path.join(stateDir, "run.pid");
  // Two tries: the second after removing a dead run's file.
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx", mode: 0o644 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
    }
    const pid = Number(readFileSync(file, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && processRunning(pid))
      throw new BackupRunningError(`another semail backup or restore (pid ${pid}) is running; let it finish`);
    unlinkSync(file);
  }
  try {
    return await work();
  } finally {
    unlinkSync(file);
  }
}
