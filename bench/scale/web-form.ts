// The web form's side of bench/scale. The form keeps no copy of the users list: each
// request reads it through webform/users-list-file.ts, and a new mailbox is a
// read-modify-write of the whole list (read, planCreate, validate, synced atomic write).
// Both are timed here: a request's read of the list as it is, and one added mailbox at a time.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "../../lib/logger.ts";
import { planCreate } from "../../webform/mailbox-rules.ts";
import { UsersListFile } from "../../webform/users-list-file.ts";
import { median } from "../lib/median.ts";
import { BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

export interface FormSample {
  /** One added mailbox each. */
  readonly addMs: readonly number[];
  /** The median of `reads` reads of the list between two changes, as each request makes. */
  readonly readMs: number;
}

const READS = 20;

export async function measureForm(dir: string, count: number, adds: number): Promise<FormSample> {
  const runDir = join(dir, `form-${count}`);
  await mkdir(runDir, { recursive: true });
  const path = join(runDir, "users.yaml");
  await writeFile(path, syntheticUsersYaml(count));
  const file = new UsersListFile(path, BENCH_LIST_OPTIONS, silentLogger());
  const addMs: number[] = [];
  for (let i = 0; i < adds; i++) {
    const owner = `added${i}`;
    const started = performance.now();
    await file.update((list) =>
      planCreate(list, { owner, localPart: owner, kind: "subdomain", subdomain: owner }, BENCH_LIST_OPTIONS),
    );
    addMs.push(performance.now() - started);
  }
  const reads: number[] = [];
  for (let i = 0; i < READS; i++) {
    const started = performance.now();
    await file.read();
    reads.push(performance.now() - started);
  }
  return { addMs, readMs: median(reads) };
}
