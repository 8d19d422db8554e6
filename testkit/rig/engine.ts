// The real Pulumi engine for tests: the CLI the toolchain script built, a PULUMI_HOME of the
// rig's own with the stand-in providers installed, a file backend in a temp dir, and the
// settings that keep it off the network (a missing plugin fails at once, nothing is fetched).
import { existsSync } from "node:fs";
import { symlink, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { lockedPulumiVersion, pulumiCliRoot } from "../../deploy/pulumi/cli-root.ts";
import { REPO_ROOT } from "../repo-path.ts";
import { installStandIns, type StandIn } from "./providers/install.ts";
import { tempDir } from "../temp-dir.ts";

export interface RigEngine {
  /** Holds bin/pulumi (what PulumiCommand.get({ root }) takes). */
  readonly cliRoot: string;
  readonly pulumi: string;
  /** Environment for the CLI and the plugins it starts. */
  readonly env: Record<string, string>;
  /** A scratch folder of this engine's own (state, home), removed after the test. */
  readonly dir: string;
}

/** Why the real engine cannot run here, or undefined when it can (for `skip`). */
export function engineMissing(): string | undefined {
  const root = pulumiCliRoot(REPO_ROOT);
  if (root !== undefined && existsSync(join(root, "bin", "pulumi"))) return undefined;
  return `no Pulumi CLI ${lockedPulumiVersion(REPO_ROOT)}: build it with deploy/pulumi/toolchain/build.sh (CI does)`;
}

/** A fresh engine for one test: state and PULUMI_HOME in a temp dir, stand-ins installed. */
export async function rigEngine(
  t: TestContext,
  standIns: readonly StandIn[] = ["command", "docker"],
): Promise<RigEngine> {
  const cliRoot = pulumiCliRoot(REPO_ROOT);
  if (cliRoot === undefined) throw new Error(engineMissing());
  const dir = await tempDir(t, "semail-engine-");
  const home = join(dir, "home");
  const state = join(dir, "state");
  await mkdir(state, { recursive: true });
  // Dynamic providers: the plugin ships in the npm package; beside the CLI it is found first.
  const bin = join(dir, "bin");
  await mkdir(bin);
  await symlink(join(cliRoot, "bin", "pulumi"), join(bin, "pulumi"));
  await symlink(
    join(REPO_ROOT, "node_modules", "@pulumi", "pulumi", "pulumi-resource-pulumi-nodejs"),
    join(bin, "pulumi-resource-pulumi-nodejs"),
  );
  const pulumi = join(bin, "pulumi");
  await installStandIns(pulumi, home, standIns);
  const env = {
    PULUMI_HOME: home,
    PULUMI_BACKEND_URL: `file://${state}`,
    PULUMI_CONFIG_PASSPHRASE: "semail test rig",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PATH: `${bin}:${join(REPO_ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}`,
  };
  return { cliRoot: dir, pulumi, env, dir };
}
