// `npm run build`: bundles the `semail` command into dist/ as plain, minified JavaScript,
// the form the Docker image runs. Running the TypeScript directly costs the daemons
// about 45 MB more memory at idle: type stripping's WebAssembly compiler, every source
// file kept as its own module, libraries loaded whole. Each subcommand becomes its own
// chunk, loaded only when run. The checkout's `bin/semail.mjs` keeps running the sources.
import { readFile, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DIST_ENTRY = "dist/semail.mjs";
/** The daemons image, built from the repository root. */
export const DAEMONS_DOCKERFILE = "assets/images/daemons/Dockerfile";

/**
 * Modules that libraries load at start but SEMail's daemons use late or never, each
 * bundled behind a proxy that loads it on first call (about 4 MB of memory in all):
 * nodemailer's HTTP client (node:http, https, zlib, undici) for URL attachments and
 * OAuth2; node:assert, which sonic-boom (pino's writer) calls only when it closes and
 * ldapts only to check a message it builds; and pino's worker-thread transport, which
 * SEMail does not use. `members` are the properties an importer calls on the module.
 */
const LAZY: readonly {
  importer: RegExp;
  module: RegExp;
  file?: (resolved: string) => string;
  members?: readonly string[];
}[] = [
  // Its CommonJS build: an ES module's imports of Node modules would be hoisted to the top.
  {
    importer: /[\\/]node_modules[\\/]nodemailer[\\/]/,
    module: /fetch\/index\.js$/,
    file: (resolved) => resolved.replace(/([\\/])dist[\\/]esm([\\/])/, "$1dist$1cjs$2"),
  },
  { importer: /[\\/]node_modules[\\/](sonic-boom|thread-stream)[\\/]/, module: /^assert$/ },
  { importer: /[\\/]node_modules[\\/]ldapts[\\/]/, module: /^node:assert$/, members: ["ok"] },
  { importer: /[\\/]node_modules[\\/]pino[\\/]lib[\\/]transport\.js$/, module: /^thread-stream$/ },
];

const lazyModules: Plugin = {
  name: "lazy-modules",
  setup(builder) {
    builder.onResolve({ filter: /.*/ }, async (args) => {
      const rule = LAZY.find((r) => r.importer.test(args.importer) && r.module.test(args.path));
      if (args.namespace === "lazy" || rule === undefined) return undefined;
      const real = await builder.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind });
      if (real.errors.length > 0) return { errors: real.errors };
      return {
        path: real.external ? args.path : (rule.file?.(real.path) ?? real.path),
        namespace: "lazy",
        pluginData: rule.members ?? [],
      };
    });
    // Called as a function or with `new` (thread-stream is a class).
    builder.onLoad({ filter: /.*/, namespace: "lazy" }, (args) => ({
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = function lazy(...args) {
  return new.target ? Reflect.construct(load(), args) : load()(...args);
};
for (const member of ${JSON.stringify(args.pluginData)}) module.exports[member] = (...args) => load()[member](...args);
`,
      loader: "js",
      resolveDir: ROOT,
    }));
  },
};

/** Builds into `outdir` (dist/ by default); returns the entry file's path. */
export async function bundle(outdir = `${ROOT}dist`): Promise<string> {
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { semail: `${ROOT}bin/semail.mjs` },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node26",
    minify: true,
    // Names stay: pino and the error messages show them.
    keepNames: true,
    sourcemap: "linked",
    outExtension: { ".js": ".mjs" },
    // The Pulumi SDKs and the browser driver are never used by the daemons; `node` is the
    // runtime package the launcher falls back to.
    external: ["@pulumi/*", "@pulumiverse/*", "playwright-core", "node"],
    // Bundled CommonJS libraries still call require() for Node's own modules.
    banner: {
      js: 'import { createRequire as __semailRequire } from "node:module"; const require = __semailRequire(import.meta.url);',
    },
    plugins: [lazyModules],
    logLevel: "warning",
  });
  return `${outdir}/semail.mjs`;
}

/**
 * The Node flags the daemons image runs the daemons with (its ENTRYPOINT, between `node`
 * and the bundle), so benchmarks and tests start the bundle exactly as it ships.
 */
export async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(`${ROOT}${DAEMONS_DOCKERFILE}`, "utf8");
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
  const command = line ? (JSON.parse(line[1]!) as string[]) : [];
  const end = command.indexOf(DIST_ENTRY);
  if (command[0] !== "node" || end < 0)
    throw new Error(`${DAEMONS_DOCKERFILE}: ENTRYPOINT must be ["node", FLAGS..., "${DIST_ENTRY}"]`);
  return command.slice(1, end);
}

if (import.meta.main) {
  const entry = await bundle(process.argv[2]);
  console.log(`built ${entry}`);
}
