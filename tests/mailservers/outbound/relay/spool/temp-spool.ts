// A spool in a temp dir, opened as the daemon opens it, closed and deleted after the test.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Spool } from "../../../../../mailservers/outbound/relay/spool/spool.ts";

export async function tempSpool(t: { after: (fn: () => Promise<void>) => void }): Promise<Spool> {
  const dir = await mkdtemp(join(tmpdir(), "semail-spool-"));
  const spool = new Spool(dir);
  t.after(async () => {
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  });
  await spool.open({ clean: true });
  return spool;
}
