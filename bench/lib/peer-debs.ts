// A peer MTA's Debian packages, unpacked but not installed: Debian's MTAs conflict with one
// another (and with postfix), so the benches fetch their .debs (`apt-get download`) and
// `dpkg -x` them into a cache outside the clone, keyed by version. A library they link that
// this machine lacks is fetched and unpacked beside them (from the packages' Depends).
import { execFile } from "node:child_process";
import { access, chmod, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const PEER_CACHE = "/var/cache/semail/bench-peers";

/** The packages could not be fetched or their programs cannot run here; says why. */
export class PeerUnavailable extends Error {}

export interface UnpackedPeer {
  /** Where the packages' files are: `${root}/usr/sbin/...`. */
  readonly root: string;
  /** The first package's version, e.g. "4.96-15+deb12u11". */
  readonly version: string;
  /** For LD_LIBRARY_PATH: where unpacked libraries would be (none when the machine has them all). */
  readonly libraryPath: string;
}

async function candidateVersion(name: string): Promise<string> {
  const { stdout } = await run("apt-cache", ["show", "--no-all-versions", name]).catch((err: Error) => {
    throw new PeerUnavailable(`apt-cache show ${name}: ${err.message.trim()}`);
  });
  const version = /^Version: (\S+)$/m.exec(stdout)?.[1];
  if (!version) throw new PeerUnavailable(`apt-cache show ${name}: no Version (run apt-get update)`);
  return version;
}

async function download(names: readonly string[], into: string): Promise<void> {
  await run("apt-get", ["download", "-q", ...names], { cwd: into, timeout: 300_000 }).catch(
    (err: { stderr?: string; message: string }) => {
      throw new PeerUnavailable(`apt-get download ${names.join(" ")}: ${(err.stderr || err.message).trim()}`);
    },
  );
}

const debsIn = async (dir: string) =>
  (await readdir(dir)).filter((f) => f.endsWith(".deb")).map((f) => path.join(dir, f));

/** Shared libraries that `programs` need and the loader cannot find, with `libraryPath` added. */
async function missingLibraries(programs: readonly string[], libraryPath: string): Promise<string[]> {
  const missing = new Set<string>();
  for (const program of programs) {
    const { stdout } = await run("ldd", [program], { env: { ...process.env, LD_LIBRARY_PATH: libraryPath } }).catch(
      () => ({ stdout: "" }), // not a dynamic executable (a script)
    );
    for (const match of stdout.matchAll(/^\s*(\S+) => not found$/gm)) missing.add(match[1]!);
  }
  return [...missing];
}

/** The library packages (lib*) the debs depend on that dpkg does not have installed. */
async function uninstalledLibraryDepends(debs: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const deb of debs) {
    const { stdout } = await run("dpkg-deb", ["-f", deb, "Depends"]);
    for (const alternative of stdout.split(",")) {
      const name = alternative.trim().split(/[\s(|]/)[0]!;
      if (name.startsWith("lib")) names.add(name);
    }
  }
  const absent: string[] = [];
  for (const name of names) {
    const status = await run("dpkg-query", ["-W", "-f=${Status}", name]).then(
      (r) => r.stdout,
      () => "",
    );
    if (!status.includes("install ok installed")) absent.push(name);
  }
  return absent;
}

async function unpack(packages: readonly string[], programs: readonly string[], into: string): Promise<void> {
  const debs = path.join(into, "debs");
  const root = path.join(into, "root");
  await mkdir(debs, { recursive: true });
  await download(packages, debs);
  for (const deb of await debsIn(debs)) await run("dpkg", ["-x", deb, root]);
  const libraryPath = libraryPathOf(root);
  const programPaths = programs.map((p) => path.join(root, p));
  if ((await missingLibraries(programPaths, libraryPath)).length > 0) {
    const extra = path.join(into, "library-debs");
    await mkdir(extra);
    const libraries = await uninstalledLibraryDepends(await debsIn(debs));
    if (libraries.length > 0) await download(libraries, extra);
    for (const deb of await debsIn(extra)) await run("dpkg", ["-x", deb, root]);
  }
  const still = await missingLibraries(programPaths, libraryPath);
  if (still.length > 0) throw new PeerUnavailable(`${programs.join(", ")}: libraries not found: ${still.join(", ")}`);
}

const libraryPathOf = (root: string) =>
  ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"].map((d) => path.join(root, d)).join(":");

/**
 * The packages unpacked in the cache (fetched the first time, and again when apt has a new
 * version); `programs` (paths inside the packages, e.g. "usr/sbin/exim4") must find their
 * libraries. Throws PeerUnavailable, naming the step and its error, when that cannot be done.
 */
export async function unpackedPeer(
  packages: readonly string[],
  programs: readonly string[],
  cache = PEER_CACHE,
): Promise<UnpackedPeer> {
  const version = await candidateVersion(packages[0]!);
  const home = path.join(cache, `${packages[0]}_${version}`);
  const done = path.join(home, "unpacked");
  if (
    !(await access(done).then(
      () => true,
      () => false,
    ))
  ) {
    await mkdir(cache, { recursive: true });
    // Unpacked beside the cache entry and renamed into place: a concurrent run never sees half.
    const scratch = await mkdtemp(path.join(cache, ".unpacking-"));
    await chmod(scratch, 0o755); // the peers' unprivileged processes run their programs from here
    try {
      await unpack(packages, programs, scratch);
      await writeFile(path.join(scratch, "unpacked"), `${packages.join(" ")}\n`);
      await rename(scratch, home).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err; // another run got there first
      });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const root = path.join(home, "root");
  const libraryPath = libraryPathOf(root);
  return { root, version, libraryPath };
}
