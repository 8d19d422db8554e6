// Paths into the repository, the same from any depth of tests/, testkit/ or bench/.
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dirname, "..");

/** An absolute path to `parts` under the repository root. */
export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}
