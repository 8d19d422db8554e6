// The layers, as a table of allowed edges: cli/ -> webform/, deploy/ -> components/, mailservers/,
// services/ -> directory/ -> config/ -> lib/, with the sub-folders that must not see each other.
// Every import form and every read by path (components/ reading assets/) is an edge; one the table
// does not allow fails naming the file, the import and the rule. Source files import no cycle.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";
import {
  edgesOfSource,
  importCycles,
  layerViolations,
  readImportGraph,
  sourceFiles,
  type Edge,
  type LayerTable,
} from "./helpers/import-graph.ts";

const ROOT = join(import.meta.dirname, "..");
/** Top-level entries that hold no code of ours: generated, installed, or prose. */
const NOT_CODE = new Set([".git", "node_modules", "var", "test-artifacts", "dist", "docs"]);

const CORE = "mailservers/core";
const INBOUND = "mailservers/inbound";
const STORE = "mailservers/inbound/store";
const OUTBOUND = "mailservers/outbound";
const RELAY = "mailservers/outbound/relay";
const MAILSERVERS = [CORE, INBOUND, STORE, OUTBOUND, RELAY];
const SERVICES = [
  "services/imap",
  "services/webmail",
  "services/acme",
  "services/backup",
  "services/report",
  "services/bans",
  "services/move",
];
/** What a deployer may use: everything it deploys and everything below. */
const DEPLOYED = ["components", ...MAILSERVERS, ...SERVICES, "directory", "config", "lib", "assets"];
/** Everything that ships; test and bench helpers may use all of it. */
const SHIPPED = ["bin", "index.ts", "cli", "webform", "deploy", "deploy/local", "deploy/pulumi", ...DEPLOYED];

/** Each unit and the units it may use. A sub-folder listed here is a unit of its own; deeper folders belong to it. */
const LAYERS: LayerTable = {
  // The lowest layers: lib imports nothing of ours, config only lib, directory (LDAP) only those two.
  lib: [],
  config: ["lib"],
  directory: ["config", "lib"],
  // The daemons share core; inbound and outbound never see each other. Core is handed a Directory
  // (the contract is in config/); only the daemons' composition builds the LDAP one.
  [CORE]: ["config", "lib"],
  [INBOUND]: [CORE, STORE, "directory", "config", "lib"],
  [OUTBOUND]: [CORE, RELAY, "directory", "config", "lib"],
  // The backends: the store knows nothing of the daemon that drives it and speaks no SMTP; it takes
  // the envelope and writes the Received line. The relay is an SMTP client, so it may use core.
  [STORE]: ["config", "lib", `${CORE}/types.ts`, `${CORE}/received.ts`, `${CORE}/address-bytes.ts`],
  [RELAY]: [CORE, "config", "lib"],
  // Services and components are peers of the daemons; they read their files from assets/ by path.
  "services/imap": ["assets", "config", "lib"],
  "services/webmail": ["assets", "config", "lib"],
  "services/acme": ["config", "lib"],
  // The report reads what the daemons keep (the spool, the mail roots) and asks the directory.
  // The backups copy the mail roots under the mbox dotlocks, as any mail reader would, without the store.
  "services/backup": ["config", "lib"],
  // The bans read the parts' logs (text), never their code.
  "services/bans": ["config", "lib"],
  // A move copies a mail root with rsync and writes the users lists; the daemons see it through them.
  // It holds the mbox files under the backups' dotlocks, and closes IMAP sessions in Dovecot's own configuration.
  "services/move": ["services/backup", "services/imap", "config", "lib"],
  "services/report": ["services/acme", "services/backup", RELAY, STORE, "directory", "config", "lib"],
  components: ["assets", "config", "lib"],
  assets: [],
  // The web form is an application beside the daemons: it reaches its applier through config/applier.ts.
  webform: [...SERVICES, "directory", "config", "lib"],
  // The two deployers are peers; deploy/ itself picks one.
  "deploy/pulumi": DEPLOYED,
  "deploy/local": DEPLOYED,
  deploy: ["deploy/pulumi", "deploy/local", ...DEPLOYED],
  // The entry points: the command, the bundler, the Pulumi program.
  cli: ["webform", "deploy", "deploy/local", "deploy/pulumi", ...DEPLOYED],
  bin: ["cli", "assets"],
  "index.ts": ["deploy/pulumi", "components", "config", "lib"],
  // Shared test and bench helpers use what ships, never a test or a benchmark.
  testkit: SHIPPED,
  bench: [...SHIPPED, "testkit"],
  // The fuzz targets (npm run fuzz) drive what ships; only tests (their replays) import them.
  fuzz: [...SHIPPED, "testkit"],
  // The fault matrix's runner (npm run faults) starts the rows in tests/faults by path and prints their table.
  faults: ["tests"],
  tests: [...SHIPPED, "testkit", "bench", "fuzz", "faults"],
};

async function codeFolders(): Promise<string[]> {
  const entries = await readdir(ROOT, { withFileTypes: true });
  return entries
    .filter((e) => !NOT_CODE.has(e.name) && (e.isDirectory() || /\.(ts|mjs)$/.test(e.name)))
    .map((e) => e.name);
}

test("every import and read by path is an edge the layer table allows", async () => {
  const edges = await readImportGraph(ROOT, await sourceFiles(ROOT, await codeFolders()));
  assert.deepEqual(layerViolations(edges, LAYERS), []);
});

test("no source file imports itself through a cycle", async () => {
  const source = (await codeFolders()).filter((f) => f !== "tests");
  const cycles = importCycles(await readImportGraph(ROOT, await sourceFiles(ROOT, source)));
  assert.deepEqual(
    cycles.map((files) => `cycle: ${files.join(" -> ")}`),
    [],
  );
});

test("the parser sees every import form and every read by path", () => {
  const text = [
    `import { a } from "../config/a.ts";`,
    `import type { B } from "../config/b.ts";`,
    `import "../config/side-effect.ts";`,
    `export { c } from "../config/c.ts";`,
    `export * from "../config/d.ts";`,
    `const e = await import("../config/e.ts");`,
    `type F = import("../config/f.ts").F;`,
    `// import { g } from "../config/in-a-comment.ts";`,
    `const h = readFileSync(join(import.meta.dirname, "..", "assets", "host", "h.sh"));`,
    `const i = new URL("../assets/images/i", import.meta.url);`,
    `const j = join(projectDir, "assets", "host", script);`,
    `const k = repoPath("assets/images/k/Dockerfile");`,
    `const l = "assets/images/l/Dockerfile";`,
    `const route = "/assets/app.css";`,
    `const pkg = join(root, "node_modules", ".bin", "tsc");`,
    `import { pino } from "pino";`,
  ].join("\n");
  const edges = edgesOfSource("components/x.ts", text, () => true);
  assert.deepEqual(
    edges.map((e) => `${e.kind} ${e.to}`),
    [
      "import config/a.ts",
      "import config/b.ts",
      "import config/side-effect.ts",
      "import config/c.ts",
      "import config/d.ts",
      "import config/e.ts",
      "import config/f.ts",
      "path assets/host/h.sh",
      "path assets/images/i",
      "path assets/host",
      "path assets/images/k/Dockerfile",
      "path assets/images/l/Dockerfile",
    ],
  );
  assert.deepEqual(
    edgesOfSource("components/x.ts", `const m = "lib/no-such-file.ts";`, () => false),
    [],
    "a path that names nothing is no edge",
  );
});

const edge = (from: string, to: string, kind: Edge["kind"] = "import"): Edge => ({
  from,
  to,
  spec: relative(from, to),
  kind,
});

test("the table rejects one wrong import of each kind", () => {
  const wrong: Array<[string, Edge]> = [
    ["a lower layer imports a higher one", edge("config/users-list.ts", "webform/app.ts")],
    ["lib imports something of ours", edge("lib/logger.ts", "config/settings.ts")],
    ["inbound imports outbound", edge(`${INBOUND}/daemon.ts`, `${OUTBOUND}/backend.ts`)],
    ["outbound imports inbound", edge(`${OUTBOUND}/daemon.ts`, `${INBOUND}/recipients.ts`)],
    ["the store imports its backend", edge(`${STORE}/index.ts`, `${INBOUND}/backend.ts`)],
    ["the store imports the SMTP front end", edge(`${STORE}/index.ts`, `${CORE}/front-end.ts`)],
    ["core imports a backend", edge(`${CORE}/front-end.ts`, `${RELAY}/index.ts`)],
    ["a service imports a daemon", edge("services/imap/dovecot.ts", `${STORE}/roots/mailbox-root.ts`)],
    ["one deployer imports the other", edge("deploy/local/applier.ts", "deploy/pulumi/engine.ts")],
    ["bench imports tests", edge("bench/relay/run.ts", "tests/helpers/smtp.ts")],
    ["testkit imports tests", edge("testkit/until.ts", "tests/helpers/smtp.ts")],
    ["a daemon reads assets by path", edge(`${CORE}/listen.ts`, "assets/host/mailbox-fs.sh", "path")],
    ["a file outside every unit", edge("scratch/x.ts", "lib/logger.ts")],
  ];
  for (const [what, e] of wrong) {
    const found = layerViolations([e], LAYERS);
    assert.equal(found.length, 1, `${what}: ${e.from} -> ${e.to} is reported`);
    assert.match(found[0]!, new RegExp(e.from.replace(/[.]/g, "\\.")), `${what}: the report names the file`);
  }
  assert.match(
    layerViolations([edge(`${STORE}/index.ts`, `${INBOUND}/backend.ts`)], LAYERS)[0]!,
    /mailservers\/inbound\/store may not use mailservers\/inbound/,
  );
});

test("the table allows the layering it describes", () => {
  const right = [
    edge(`${STORE}/append/mbox-file.ts`, "lib/durable-file.ts"),
    edge(`${STORE}/mbox/mboxo.ts`, `${CORE}/received.ts`),
    edge(`${INBOUND}/daemon.ts`, `${STORE}/index.ts`),
    edge(`${OUTBOUND}/daemon.ts`, "directory/ldap.ts"),
    edge("components/host-scripts.ts", "assets/host", "path"),
    edge("bench/relay/run.ts", "testkit/until.ts"),
    edge("tests/layers.test.ts", "bench/lib/median.ts"),
    edge("cli/start.ts", "deploy/local/start.ts"),
  ];
  assert.deepEqual(layerViolations(right, LAYERS), []);
});

test("the cycle search names every file of a 2-file and a 3-file cycle, and only those", () => {
  const graph = [
    edge("a/one.ts", "a/two.ts"),
    edge("a/two.ts", "a/one.ts"),
    edge("b/x.ts", "b/y.ts"),
    edge("b/y.ts", "b/z.ts"),
    edge("b/z.ts", "b/x.ts"),
    edge("b/z.ts", "c/leaf.ts"),
    edge("c/root.ts", "a/one.ts"),
    // A by-path read is no import: a script that names its own folder makes no cycle.
    edge("d/p.ts", "d/q.ts", "path"),
    edge("d/q.ts", "d/p.ts"),
  ];
  assert.deepEqual(importCycles(graph), [
    ["a/one.ts", "a/two.ts"],
    ["b/x.ts", "b/y.ts", "b/z.ts"],
  ]);
  assert.deepEqual(importCycles([edge("e/self.ts", "e/self.ts")]), [["e/self.ts"]]);
});

/** Test folders that hold no module's tests: whole journeys, this suite's own helpers, fixtures. */
const NOT_MIRRORS = new Set(["e2e", "helpers", "components/fixtures"]);
/** Test folders named for a source folder that a glob would skip. */
const MIRROR_OF: Readonly<Record<string, string>> = { ci: ".ci" };

async function folders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    out.push(path, ...(await folders(path)));
  }
  return out;
}

test("tests/ mirrors the source: every test folder has its source folder", async () => {
  const orphans: string[] = [];
  for (const folder of await folders("tests")) {
    const mirrored = relative("tests", folder);
    if ([...NOT_MIRRORS].some((n) => mirrored === n || mirrored.startsWith(`${n}/`))) continue;
    const source = MIRROR_OF[mirrored] ?? mirrored;
    const found = await readdir(join(ROOT, source)).then(
      () => true,
      () => false,
    );
    if (!found) orphans.push(`${folder} has no ${source}/`);
  }
  assert.deepEqual(orphans, []);
});
