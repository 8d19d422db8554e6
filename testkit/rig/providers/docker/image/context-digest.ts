// Upstream Image's `build.contextDigest`, which Check adds to the inputs so a change in the
// build context (and only one that Docker would send) makes a diff, hence a rebuild: a
// SHA-256 over the Dockerfile and every file of the context that .dockerignore keeps, each
// with its relative name and mode (a symlink by the path it points to), in name order. The
// same rules, not the same bytes: the digest differs from upstream's, its changes do not.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import { compilePatterns, isIgnored, readDockerignore, type IgnorePattern } from "./dockerignore.ts";

/** The patterns that apply: `<dockerfile>.dockerignore` first, else the context's .dockerignore. */
export async function ignorePatterns(context: string, dockerfile: string): Promise<string[]> {
  for (const file of [`${dockerfile}.dockerignore`, join(context, ".dockerignore")]) {
    const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw new Error(`reading ${JSON.stringify(file)}: ${err.message}`, { cause: err });
    });
    if (text !== undefined) return readDockerignore(text);
  }
  return [];
}

async function fileHash(path: string): Promise<Buffer> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest();
}

/** One entry: name, mode and content hash, as upstream's accumulator writes them. */
async function entry(path: string, name: string, mode: number, isLink: boolean): Promise<Buffer> {
  const content = isLink
    ? createHash("sha256")
        .update(
          await realpath(path).catch((err: Error) => {
            throw new Error(`could not evaluate symlink at ${path}: ${err.message}`);
          }),
        )
        .digest()
    : await fileHash(path);
  return Buffer.concat([Buffer.from(name), Buffer.from(mode.toString(8)), content, Buffer.from([0])]);
}

async function walk(root: string, relative: string, patterns: readonly IgnorePattern[], out: Buffer[]): Promise<void> {
  const names = (await readdir(join(root, relative))).sort();
  for (const name of names) {
    const rel = relative === "" ? name : `${relative}/${name}`;
    if (isIgnored(patterns, rel)) {
      // A folder can hold a re-included file only when some pattern re-includes.
      if (!patterns.some((p) => p.exclusion)) continue;
    }
    const abs = join(root, rel);
    const stat = await lstat(abs);
    if (stat.isDirectory()) await walk(root, rel, patterns, out);
    else if (!isIgnored(patterns, rel)) out.push(await entry(abs, rel, stat.mode, stat.isSymbolicLink()));
  }
}

/** The digest of `context` as built with `dockerfile` (both as the provider resolves them). */
export async function contextDigest(context: string, dockerfile: string): Promise<string> {
  const patterns = compilePatterns(await ignorePatterns(context, dockerfile));
  // The Dockerfile counts under one name, wherever it is: Docker only reads its content.
  const parts = [await entry(dockerfile, "Dockerfile", 0, false)];
  await walk(context, "", patterns, parts);
  return createHash("sha256").update(Buffer.concat(parts)).digest("hex");
}
