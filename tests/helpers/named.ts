// A real named on loopback for a test file: a temporary data directory, a free port, the
// zones the test writes (and, given `extra`, an rndc control channel and the configuration files
// another tool writes, as install-zone.sh does on the VM). stop() also removes the directory.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNamed, type NamedOptions, type RunningNamed, type Zone } from "../../deploy/local/named.ts";

export async function startTestNamed(
  zones: readonly Zone[],
  extra: Pick<NamedOptions, "controls" | "includes"> = {},
): Promise<RunningNamed> {
  const dataDir = await mkdtemp(join(tmpdir(), "semail-named-"));
  try {
    const named = await startNamed({ dataDir, zones, ...extra });
    return {
      ...named,
      async stop() {
        await named.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** A zone file with SOA and NS filled in; `records` are lines relative to the apex. */
export function zoneText(apex: string, records: readonly string[], serial = 1): string {
  return [
    "$TTL 60",
    `@ IN SOA ns.${apex}. hostmaster.${apex}. ${serial} 60 60 600 60`,
    `@ IN NS ns.${apex}.`,
    "ns IN A 127.0.0.1",
    ...records,
    "",
  ].join("\n");
}
