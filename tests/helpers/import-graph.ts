// The repository's import graph and the two checks on it: the layer table and file cycles.
// Parsing, the layer rule and the cycle search are pure functions over strings and edges, so
// tests can feed them small made-up graphs; only readImportGraph touches the disk.
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import ts from "typescript";

/** One file's use of another: `import`, `export … from`, `import()`, or a read by path. */
export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly spec: string;
  readonly kind: "import" | "path";
}

/** For each unit, the units it may use besides itself; an entry may also name one file of another unit. */
export type LayerTable = Readonly<Record<string, readonly string[]>>;

const PATH_CALLS = new Set(["join", "resolve", "repoPath"]);

/**
 * Every repository file that `text` (the source of `file`, repo-relative) imports or reads by path.
 * `exists` says whether a repo-relative path exists: a path-looking string that names nothing is no edge.
 */
export function edgesOfSource(file: string, text: string, exists: (path: string) => boolean): Edge[] {
  const source = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith(".mjs") ? ts.ScriptKind.JS : ts.ScriptKind.TS,
  );
  const here = posix.dirname(file);
  const edges: Edge[] = [];
  const add = (spec: string, to: string, kind: Edge["kind"]) => {
    const target = posix.normalize(to).replace(/\/$/, "");
    // Outside the repository, the repository itself, or packages (node_modules/.bin): not ours.
    if (target.startsWith("..") || target === "." || target === file || target.startsWith("node_modules/")) return;
    if (kind === "path" && !exists(target)) return;
    edges.push({ from: file, to: target, spec, kind });
  };
  const visit = (node: ts.Node): void => {
    const spec = moduleSpecifier(node);
    if (spec !== undefined) {
      if (spec.startsWith(".")) add(spec, posix.join(here, spec), "import");
      return;
    }
    if (ts.isNewExpression(node) && isIdentifier(node.expression, "URL")) {
      // new URL("../assets/x", import.meta.url): relative to this file.
      const [first, base] = node.arguments ?? [];
      if (first && ts.isStringLiteralLike(first) && base && mentionsImportMeta(base))
        add(first.text, posix.join(here, first.text), "path");
    } else if (ts.isCallExpression(node) && PATH_CALLS.has(calleeName(node))) {
      pathCall(node, here, add);
    } else if (ts.isStringLiteralLike(node) && !isPathCallArgument(node) && looksLikeRepoPath(node.text)) {
      // A constant such as "assets/images/daemons/Dockerfile", read from the repository root.
      add(node.text, node.text, "path");
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** The module a node imports or re-exports, if it is an import form. */
function moduleSpecifier(node: ts.Node): string | undefined {
  if (
    (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
    node.moduleSpecifier &&
    ts.isStringLiteralLike(node.moduleSpecifier)
  ) {
    return node.moduleSpecifier.text;
  }
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
    const [arg] = node.arguments;
    return arg && ts.isStringLiteralLike(arg) ? arg.text : undefined;
  }
  if (
    ts.isImportTypeNode(node) &&
    ts.isLiteralTypeNode(node.argument) &&
    ts.isStringLiteralLike(node.argument.literal)
  ) {
    return node.argument.literal.text;
  }
  return undefined;
}

/**
 * join(import.meta.dirname, "..", "assets", x) reads relative to this file; join(projectDir, "assets", "host")
 * or repoPath("assets/host") reads from the repository root (the base is a variable we cannot follow).
 */
function pathCall(
  call: ts.CallExpression,
  here: string,
  add: (spec: string, to: string, kind: Edge["kind"]) => void,
): void {
  const firstLiteral = call.arguments.findIndex((a) => ts.isStringLiteralLike(a));
  if (firstLiteral < 0) return;
  const literals: string[] = [];
  for (const arg of call.arguments.slice(firstLiteral)) {
    if (!ts.isStringLiteralLike(arg)) break;
    literals.push(arg.text);
  }
  const relative = posix.join(...literals);
  const fromFile = call.arguments.slice(0, firstLiteral).some(mentionsImportMeta);
  if (fromFile) add(literals.join(", "), posix.join(here, relative), "path");
  else if (looksLikeRepoPath(relative)) add(literals.join(", "), relative, "path");
}

/** Arguments of join(), repoPath() and new URL() are read as one path by the caller's branch. */
function isPathCallArgument(node: ts.Node): boolean {
  const parent = node.parent;
  return (
    (ts.isCallExpression(parent) && PATH_CALLS.has(calleeName(parent))) ||
    (ts.isNewExpression(parent) && isIdentifier(parent.expression, "URL"))
  );
}

/** Two or more path segments with no leading slash or dot: "assets/host", not "/assets/app.css" or "x". */
function looksLikeRepoPath(text: string): boolean {
  return /^[\w-][\w.-]*(\/[\w.-]+)+\/?$/.test(text);
}

function mentionsImportMeta(node: ts.Node): boolean {
  if (ts.isMetaProperty(node)) return true;
  return ts.forEachChild(node, mentionsImportMeta) ?? false;
}

function isIdentifier(node: ts.Node, name: string): boolean {
  return ts.isIdentifier(node) && node.text === name;
}

function calleeName(call: ts.CallExpression): string {
  const callee = call.expression;
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  return "";
}

/** The unit a repo-relative path belongs to: the longest unit that is the path or a folder above it. */
export function unitOf(path: string, units: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const unit of units) {
    if ((path === unit || path.startsWith(`${unit}/`)) && (best === undefined || unit.length > best.length))
      best = unit;
  }
  return best;
}

/** Every edge the table does not allow, as "file imports spec (from-unit may not use to-unit; …)". */
export function layerViolations(edges: readonly Edge[], table: LayerTable): string[] {
  const units = Object.keys(table);
  const broken: string[] = [];
  for (const edge of edges) {
    const from = unitOf(edge.from, units);
    const to = unitOf(edge.to, units);
    const use = `${edge.from} ${edge.kind === "import" ? "imports" : "reads by path"} ${edge.spec}`;
    if (from === undefined) {
      broken.push(`${edge.from} is in no unit of the layer table: add its folder`);
    } else if (to === undefined) {
      // Reading docs/ or test-artifacts/ by path is no layering question; importing from outside every unit is.
      if (edge.kind === "import") broken.push(`${use}: ${edge.to} is in no unit of the layer table`);
    } else if (from !== to && !table[from]!.includes(to) && !table[from]!.includes(edge.to)) {
      broken.push(`${use} (${from} may not use ${to}; it may use: ${table[from]!.join(", ") || "nothing of ours"})`);
    }
  }
  return [...new Set(broken)];
}

/** Every file import cycle (Tarjan's strongly connected components), each as its files, sorted. */
export function importCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to, kind } of edges) {
    if (kind !== "import") continue;
    if (!next.has(from)) next.set(from, new Set());
    next.get(from)!.add(to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  // Recursive: import chains are tens of files deep, far from the stack's limit.
  const connect = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const to of next.get(file) ?? []) {
      if (!index.has(to)) {
        connect(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || next.get(file)?.has(file)) cycles.push(component.sort());
  };
  for (const file of [...next.keys()].sort()) if (!index.has(file)) connect(file);
  return cycles;
}

/** Every .ts and .mjs file under `folders` (repo-relative), skipping node_modules. */
export async function sourceFiles(root: string, folders: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const folder of folders) {
    if (/\.(ts|mjs)$/.test(folder)) {
      out.push(folder);
      continue;
    }
    for (const entry of await readdir(join(root, folder), { withFileTypes: true })) {
      const path = posix.join(folder, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules") out.push(...(await sourceFiles(root, [path])));
      else if (/\.(ts|mjs)$/.test(entry.name)) out.push(path);
    }
  }
  return out;
}

/** The import graph of the given files, read from disk. */
export async function readImportGraph(root: string, files: readonly string[]): Promise<Edge[]> {
  const exists = (path: string) => existsSync(join(root, path));
  const edges: Edge[] = [];
  for (const file of files) edges.push(...edgesOfSource(file, await readFile(join(root, file), "utf8"), exists));
  return edges;
}
