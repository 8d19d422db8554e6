// .ci/setup on a fresh checkout: npm must run on the Node 26 it installs (not on Debian's
// older node, whose EBADENGINE warnings read like failures), and every install script in
// the tree must be reviewed in package.json's allowScripts. npm and dpkg-query are stand-ins
// here: the real install needs the registry, which the test must not depend on.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../../testkit/temp-dir.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");
const SYSTEM_NODE = "/usr/bin/node";

/** Logs each call with the Node it runs on; "installs" Node 26 (this one) where npm would put it. */
const FAKE_NPM = `#!/bin/sh
echo "$1 $(node --version)" >> "$CALLS"
if [ "$1" = install ]; then
  while [ "$1" != --prefix ]; do shift; done
  mkdir -p "$2/node_modules/.bin" && ln -s "$REAL_NODE" "$2/node_modules/.bin/node"
  echo "$2" > "$BOOT"
elif [ "$1" = ci ]; then
  mkdir -p node_modules/.bin && ln -s "$REAL_NODE" node_modules/.bin/node
fi
`;

test("a fresh setup runs npm ci on the Node 26 it fetched first, and leaves no scratch folder", async (t) => {
  const system = await run(SYSTEM_NODE, ["-p", "process.versions.node"]).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  if (system === undefined || Number(system.split(".")[0]) >= 26)
    return t.skip(`needs an older system node at ${SYSTEM_NODE} (found ${system})`);
  const dir = await tempDir(t, "semail-setup-");
  const checkout = join(dir, "checkout");
  await mkdir(join(checkout, ".ci"), { recursive: true });
  await cp(join(ROOT, ".ci/setup"), join(checkout, ".ci/setup"));
  await cp(join(ROOT, "package.json"), join(checkout, "package.json"));
  await cp(join(ROOT, "package-lock.json"), join(checkout, "package-lock.json"));
  const bin = join(dir, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "npm"), FAKE_NPM);
  await writeFile(join(bin, "dpkg-query"), "#!/bin/sh\nprintf 'install ok installed'\n");
  await writeFile(join(bin, "node"), `#!/bin/sh\nexec ${SYSTEM_NODE} "$@"\n`);
  for (const file of ["npm", "dpkg-query", "node"]) await chmod(join(bin, file), 0o755);

  const calls = join(dir, "calls");
  const boot = join(dir, "boot");
  const env = { ...process.env, PATH: `${bin}:/usr/bin:/bin`, CALLS: calls, BOOT: boot, REAL_NODE: process.execPath };
  await run("bash", [join(checkout, ".ci/setup")], { env });

  const lines = (await readFile(calls, "utf8")).trim().split("\n");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.equal(lines[0], `install v${system}`, "Node 26 is fetched by the system's npm");
  assert.equal(lines[1], `ci ${process.version}`, "npm ci runs on Node 26");
  const scratch = (await readFile(boot, "utf8")).trim();
  await assert.rejects(readdir(scratch), { code: "ENOENT" }, "the scratch folder is removed");
});

test("every install script in node_modules is approved or denied in package.json's allowScripts", async () => {
  const { stdout } = await run("npm", ["install-scripts", "ls", "--json"], { cwd: ROOT });
  assert.deepEqual(JSON.parse(stdout), { allowScripts: [] });
});
