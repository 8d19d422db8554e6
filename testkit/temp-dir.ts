// Temporary directories for tests that clean up after themselves: one call makes the
// directory and registers its removal, so no test forgets the second half.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

/** What `tempDir` needs of a test: node:test's `t` (or anything with its `after`). */
export interface AfterHook {
  after(fn: () => unknown): unknown;
}

/**
 * A new directory under the system's temp dir, named `prefix` plus random characters,
 * removed with its contents when the test `t` ends (in its after hooks, in the order registered).
 */
export async function tempDir(t: AfterHook, prefix = "semail-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * One directory for a whole file or `describe` block: made in its `before`, removed in its
 * `after`. Read `.path` inside a test or hook.
 */
export function tempDirForSuite(prefix: string): { readonly path: string } {
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      if (dir === undefined)
        throw new Error(`the temp dir ${prefix}* is made in before(): use it inside a test or hook`);
      return dir;
    },
  };
}
