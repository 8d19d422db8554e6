// The environment the daemons image sets (its Dockerfile's ENV lines), so benchmarks start
// the bundle with what the image ships: the node flags (bin/bundle.ts imageNodeFlags) and
// this environment (e.g. glibc's malloc settings, read only at process start).
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { DAEMONS_DOCKERFILE } from "../../bin/bundle.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** `ENV A=1 B=2` lines of the Dockerfile's final stage, as a record. */
export async function imageEnv(dockerfile = `${ROOT}${DAEMONS_DOCKERFILE}`): Promise<Record<string, string>> {
  const text = await readFile(dockerfile, "utf8");
  const finalStage = text.slice([...text.matchAll(/^FROM /gm)].at(-1)?.index ?? 0);
  const env: Record<string, string> = {};
  for (const [, assignments] of finalStage.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const assignment of assignments!.trim().split(/\s+/)) {
      const match = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(assignment);
      if (!match)
        throw new Error(`${DAEMONS_DOCKERFILE}: ENV ${assignments}: write it as KEY=VALUE pairs without quotes`);
      env[match[1]!] = match[2]!;
    }
  }
  return env;
}
