// Where a rig's inner dockerd keeps its data: one of a few directories under ROOT, outside
// the clone, kept between runs so images loaded or built inside are cached. A rig holds its
// slot by a lock file (content: the holder's pid) for its whole life, so two rigs never share
// one. A slot whose last rig did not end cleanly (killed test, failed teardown) is emptied
// before use: its dockerd may have left containers that would start again.
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { processRunning } from "../../../lib/process-alive.ts";
import { lockHolder, tryLockFile } from "../../lock-file.ts";
import { untilValue } from "../../until.ts";

export const SLOT_ROOT = "/var/lib/semail-test-rig";
const SLOTS = 8;
const WAIT_MS = 10 * 60_000;

export interface DataSlot {
  readonly index: number;
  /** The directory bind-mounted at the rig's /var/lib/docker. */
  readonly dir: string;
  /** Lets the slot go; `clean` keeps its data for the next rig, else the next one empties it. */
  release(clean: boolean): Promise<void>;
}

const lockPath = (index: number) => join(SLOT_ROOT, `docker-${index}.lock`);
const cleanPath = (index: number) => join(SLOT_ROOT, `docker-${index}.clean`);

/** Slot numbers to try: first those a dead process holds (so what it left is undone now), then the rest. */
async function candidates(): Promise<number[]> {
  const stale: number[] = [];
  for (let index = 0; index < SLOTS; index++) {
    const pid = await lockHolder(lockPath(index));
    if (pid !== undefined && !processRunning(pid)) {
      await rm(lockPath(index), { force: true });
      stale.push(index);
    }
  }
  return [...stale, ...Array.from({ length: SLOTS }, (_, i) => i).filter((i) => !stale.includes(i))];
}

/**
 * Claims a free slot, waiting (bounded) while all are held. `removeOrphans(index)` runs
 * before an unclean slot is emptied: it removes a rig container a killed test left using it.
 */
export async function claimDataSlot(
  removeOrphans: (index: number) => Promise<void>,
  waitMs = WAIT_MS,
): Promise<DataSlot> {
  await mkdir(SLOT_ROOT, { recursive: true });
  return untilValue(
    async (): Promise<DataSlot | undefined> => {
      for (const index of await candidates()) {
        if (!tryLockFile(lockPath(index))) continue;
        const dir = join(SLOT_ROOT, `docker-${index}`);
        const clean = await stat(cleanPath(index)).then(
          () => true,
          () => false,
        );
        // From here until a clean release, the slot counts as unclean.
        await rm(cleanPath(index), { force: true });
        if (!clean) {
          await removeOrphans(index);
          await rm(dir, { recursive: true, force: true });
        }
        await mkdir(dir, { recursive: true });
        let released = false;
        return {
          index,
          dir,
          async release(keep) {
            if (released) return;
            released = true;
            if (keep) await writeFile(cleanPath(index), "");
            await rm(lockPath(index), { force: true });
          },
        };
      }
      return undefined;
    },
    `one of the ${SLOTS} rig data slots in ${SLOT_ROOT} (lock files docker-N.lock name their holders)`,
    waitMs,
    1000,
  );
}
