// Which Pulumi CLI the engine driver runs: the one an operator names, the one the
// project's toolchain script built (deploy/pulumi/toolchain/build.sh), or `pulumi` in PATH.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The toolchain cache's root, as build.sh computes it. */
export function toolchainCache(env: NodeJS.ProcessEnv = process.env): string {
  return env.SEMAIL_TOOLCHAIN_CACHE || "/var/cache/semail/pulumi-toolchain";
}

/** The @pulumi/pulumi version the project installs (the CLI is built at the same one). */
export function lockedPulumiVersion(projectDir: string): string {
  const lock = JSON.parse(readFileSync(join(projectDir, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages["node_modules/@pulumi/pulumi"]?.version;
  if (version === undefined)
    throw new Error(`@pulumi/pulumi is not in ${projectDir}/package-lock.json: run npm install`);
  return version;
}

/** The folder holding bin/pulumi built by the toolchain script for `version`. */
export function toolchainRoot(version: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(toolchainCache(env), `pulumi-${version}`);
}

/**
 * The folder holding bin/pulumi to run, or undefined for the `pulumi` in PATH:
 * SEMAIL_PULUMI_ROOT when set, else the toolchain's build when it is there.
 */
export function pulumiCliRoot(projectDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SEMAIL_PULUMI_ROOT) return env.SEMAIL_PULUMI_ROOT;
  const built = toolchainRoot(lockedPulumiVersion(projectDir), env);
  return existsSync(join(built, "bin", "pulumi")) ? built : undefined;
}
