// The real engine's side of bench/scale: `preview` of the whole stack from empty state,
// through the engine driver (deploy/pulumi/engine.ts, the program inline), for users lists
// of each size. The providers are the test rig's stand-ins (no registry here serves the real
// ones); a preview from empty state plans creates only, so they answer Check and Diff and
// never reach the (documentation-range) host the stack names.
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockedPulumiVersion, pulumiCliRoot } from "../../deploy/pulumi/cli-root.ts";
import { openEngine } from "../../deploy/pulumi/engine.ts";
import { installStandIns } from "../../testkit/rig/providers/install.ts";
import { BENCH_DOMAIN, syntheticUsersYaml } from "../lib/users-lists.ts";

const PROJECT_DIR = join(import.meta.dirname, "..", "..");
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5n0Lq3yJ3gq0TbXb1wqHc2l1m3p6Yx0b6n9k2JdXQ";

export interface PreviewSample {
  readonly ms: number;
  readonly creates: number;
}

/** Why the real preview cannot be measured here, or undefined when it can. */
export function previewUnavailable(): string | undefined {
  const root = pulumiCliRoot(PROJECT_DIR);
  return root !== undefined && existsSync(join(root, "bin", "pulumi"))
    ? undefined
    : `no Pulumi CLI ${lockedPulumiVersion(PROJECT_DIR)} (npm run toolchain builds it)`;
}

/** One preview from empty state of the stack with `count` mailboxes, timed from the call to its summary. */
export async function measurePreview(count: number): Promise<PreviewSample> {
  const cliRoot = pulumiCliRoot(PROJECT_DIR)!;
  const scratch = await mkdtemp(join(tmpdir(), "semail-bench-preview-"));
  // semail:usersList must be inside the project: a git-ignored folder of var/.
  const listDir = join("var", `bench-preview-${process.pid}`);
  try {
    const bin = join(scratch, "bin");
    await mkdir(bin);
    await symlink(join(cliRoot, "bin", "pulumi"), join(bin, "pulumi"));
    const home = join(scratch, "home");
    await installStandIns(join(bin, "pulumi"), home);
    await mkdir(join(PROJECT_DIR, listDir), { recursive: true });
    await writeFile(join(PROJECT_DIR, listDir, "users.yaml"), syntheticUsersYaml(count));
    const workDir = join(scratch, "work");
    await mkdir(workDir);
    await copyFile(join(PROJECT_DIR, "Pulumi.yaml"), join(workDir, "Pulumi.yaml"));
    await mkdir(join(scratch, "state"));
    const engine = await openEngine({
      projectDir: PROJECT_DIR,
      stack: "bench",
      workDir,
      cliRoot: scratch,
      createStack: true,
      env: {
        PULUMI_HOME: home,
        PULUMI_BACKEND_URL: `file://${join(scratch, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "bench",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
        PATH: `${bin}:${process.env.PATH ?? ""}`,
      },
    });
    const plain = {
      vmProvider: "existing",
      vmIp: "192.0.2.25",
      vmHostKey: HOST_KEY,
      storageBackend: "image",
      managedDomain: BENCH_DOMAIN,
      ldapBaseDn: "dc=semail,dc=bench",
      usersList: `${listDir}/users.yaml`,
      minMailboxSize: "16MiB",
    };
    await engine.stack.setAllConfig({
      ...Object.fromEntries(Object.entries(plain).map(([k, v]) => [`semail:${k}`, { value: v }])),
      "semail:sshPrivateKey": { value: "not used by a preview from empty state", secret: true },
      "semail:ldapPassword": { value: "bench-ldap", secret: true },
    });
    const started = performance.now();
    const result = await engine.preview();
    return { ms: performance.now() - started, creates: result.changes.filter((s) => s.op === "create").length };
  } finally {
    await rm(join(PROJECT_DIR, listDir), { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}
