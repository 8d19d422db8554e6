// The web form's side of bench/scale. The form keeps no copy of the users list: each
// request reads the file, and a new mailbox is a read-modify-write of the whole list
// (provisioning/web/users-list-file.ts: read, planCreate, validate, synced atomic write).
// That write is timed here, one added mailbox at a time.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "../../lib/logger.ts";
import { planCreate } from "../../provisioning/web/mailbox-rules.ts";
import { UsersListFile } from "../../provisioning/web/users-list-file.ts";
import { BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

export async function measureFormAdds(dir: string, count: number, adds: number): Promise<number[]> {
  const runDir = join(dir, `form-${count}`);
  await mkdir(runDir, { recursive: true });
  const path = join(runDir, "users.yaml");
  await writeFile(path, syntheticUsersYaml(count));
  const file = new UsersListFile(path, BENCH_LIST_OPTIONS, silentLogger());
  const times: number[] = [];
  for (let i = 0; i < adds; i++) {
    const owner = `added${i}`;
    const started = performance.now();
    await file.update((list) => planCreate(list, { owner, localPart: owner, kind: "subdomain", subdomain: owner }, BENCH_LIST_OPTIONS));
    times.push(performance.now() - started);
  }
  return times;
}
