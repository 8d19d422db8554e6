// Installs the test rig's stand-in providers (TypeScript, served by Node) into a PULUMI_HOME
// of the rig's own, as the plugins `resource-command-v<version>` and `resource-docker-v<version>`
// at the versions the installed SDKs ask for. No real stack ever sees them: they exist
// because no registry these machines reach serves the real provider binaries.
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../repo-path.ts";

const run = promisify(execFile);

export const STAND_INS = ["command", "docker"] as const;
export type StandIn = (typeof STAND_INS)[number];

/** The plugin version the SDK package declares (its package.json `pulumi.version`). */
export async function sdkPluginVersion(name: StandIn): Promise<string> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "node_modules", "@pulumi", name, "package.json"), "utf8")) as {
    pulumi?: { version?: string };
  };
  const version = pkg.pulumi?.version;
  if (!version) throw new Error(`@pulumi/${name} declares no plugin version`);
  return version;
}

/** The stand-in's entry point: testkit/rig/providers/<name>/main.ts. */
export function standInMain(name: StandIn): string {
  return join(REPO_ROOT, "testkit", "rig", "providers", name, "main.ts");
}

/**
 * Installs each stand-in in `pulumiHome` with `pulumi plugin install --file` (no download):
 * a wrapper that runs Node 26 on its main.ts by absolute path (the engine copies the wrapper).
 */
export async function installStandIns(
  pulumi: string,
  pulumiHome: string,
  names: readonly StandIn[] = STAND_INS,
): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), "semail-stand-ins-"));
  try {
    for (const name of names) {
      const wrapper = join(scratch, `pulumi-resource-${name}`);
      const node = join(REPO_ROOT, "node_modules", ".bin", "node");
      await writeFile(
        wrapper,
        `#!/bin/sh\n# SEMail test rig stand-in for pulumi-resource-${name} (testkit/rig/providers): not the real provider.\nexec ${JSON.stringify(node)} ${JSON.stringify(standInMain(name))} "$@"\n`,
      );
      await chmod(wrapper, 0o755);
      await mkdir(pulumiHome, { recursive: true });
      await run(pulumi, ["plugin", "install", "resource", name, await sdkPluginVersion(name), "--file", wrapper], {
        env: {
          ...process.env,
          PULUMI_HOME: pulumiHome,
          PULUMI_SKIP_UPDATE_CHECK: "true",
          PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        },
        timeout: 60_000,
      });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
