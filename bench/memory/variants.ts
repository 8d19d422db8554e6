// What a run varies: the daemons' node flags and environment, from what the image ships.
// A variant is written as tokens: KEY=VALUE sets a variable, KEY= unsets one, --flag[=v]
// adds a node flag (replacing the image's flag of that name), !--flag drops one.
import { fileURLToPath } from "node:url";
import type { Launch } from "./daemons.ts";

export interface Variant {
  /** The tokens as given; "as shipped" when there are none. */
  readonly name: string;
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const flagName = (flag: string) => flag.split("=")[0]!;

export function variant(shipped: Pick<Launch, "nodeFlags" | "env">, spec: string): Variant {
  let nodeFlags = [...shipped.nodeFlags];
  const env: Record<string, string> = { ...shipped.env };
  for (const token of spec.trim().split(/\s+/).filter(Boolean)) {
    if (token.startsWith("!--")) {
      nodeFlags = nodeFlags.filter((f) => flagName(f) !== flagName(token.slice(1)));
    } else if (token.startsWith("--")) {
      nodeFlags = [...nodeFlags.filter((f) => flagName(f) !== flagName(token)), token];
    } else {
      const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(token);
      if (!match)
        throw new Error(
          `--variant ${JSON.stringify(spec)}: ${JSON.stringify(token)} is neither KEY=VALUE, KEY=, --flag nor !--flag`,
        );
      if (match[2] === "") delete env[match[1]!];
      else env[match[1]!] = match[2]!;
    }
  }
  return { name: spec.trim() || "as shipped", nodeFlags, env };
}

/** bench/memory/malloc-trim.mjs: glibc's malloc_trim(0) every 10 s, loaded with --import. */
export const MALLOC_TRIM = fileURLToPath(new URL("./malloc-trim.mjs", import.meta.url));

/**
 * The levers tried by `--levers`, each alone on top of what the image ships (and the image
 * without its environment, if it has one): glibc's malloc (where large blocks come from, how
 * many arenas, a trim now and then), V8's heap (old and young generation limits, GC threads)
 * and libuv's thread pool.
 */
export function leverSpecs(shipped: Pick<Launch, "env">): string[] {
  const unsetShippedEnv = Object.keys(shipped.env)
    .map((k) => `${k}=`)
    .join(" ");
  return [
    "",
    ...(unsetShippedEnv ? [unsetShippedEnv] : []),
    "MALLOC_ARENA_MAX=2",
    "MALLOC_MMAP_THRESHOLD_=65536",
    "MALLOC_MMAP_THRESHOLD_=16384",
    `--import=${MALLOC_TRIM} --disable-warning=ExperimentalWarning`,
    "--max-old-space-size=64",
    "!--max-semi-space-size",
    "!--v8-pool-size",
    "--single-threaded-gc",
    "UV_THREADPOOL_SIZE=2",
  ];
}
