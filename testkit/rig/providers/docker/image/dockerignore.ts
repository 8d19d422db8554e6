// .dockerignore as Docker reads it (moby/patternmatcher and its ignorefile): one pattern a
// line, `#` comments, `!` re-includes, `*` and `?` within a path segment, `**` across them;
// a pattern that matches a folder takes the folder's contents with it; the last matching
// pattern decides. Upstream's Image hashes the build context with these rules.

export interface IgnorePattern {
  readonly exclusion: boolean;
  readonly regex: RegExp;
}

/** The patterns of a .dockerignore text, cleaned as Docker cleans them. */
export function readDockerignore(text: string): string[] {
  const patterns: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = i === 0 ? raw.replace(/^\uFEFF/, "") : raw;
    if (line.startsWith("#")) continue;
    let pattern = line.trim();
    if (pattern === "") continue;
    const invert = pattern.startsWith("!");
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern !== "") {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  }
  return patterns;
}

/** Go's filepath.Clean for slash paths. */
function cleanPath(path: string): string {
  const rooted = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
    else if (part !== ".." || !rooted) parts.push(part);
  }
  const joined = parts.join("/");
  return rooted ? `/${joined}` : joined || ".";
}

/** A pattern as patternmatcher compiles it: anchored, `**` crossing folders. */
function compile(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i += 1;
        if (pattern[i + 1] === "/") i += 1;
        re += i + 1 >= pattern.length ? ".*" : "(.*/)?";
      } else {
        re += "[^/]*";
      }
    } else if (ch === "?") {
      re += "[^/]";
    } else if (ch === "\\") {
      i += 1;
      re += pattern[i] === undefined ? "\\\\" : `\\${pattern[i]}`;
    } else if (".+()|{}$".includes(ch) || (ch === "^" && pattern[i - 1] !== "[")) {
      // What a regexp means but a path pattern does not ("[^" stays a negated class).
      re += `\\${ch}`;
    } else {
      re += ch;
    }
  }
  return new RegExp(`${re}$`);
}

export function compilePatterns(patterns: readonly string[]): IgnorePattern[] {
  return patterns.map((p) =>
    p.startsWith("!") ? { exclusion: true, regex: compile(p.slice(1)) } : { exclusion: false, regex: compile(p) },
  );
}

/** True when `path` (relative, slash-separated) is ignored: it or a parent folder matches. */
export function isIgnored(patterns: readonly IgnorePattern[], path: string): boolean {
  const parents = path.split("/").slice(0, -1);
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.exclusion !== matched) continue;
    let match = pattern.regex.test(path);
    for (let i = 1; !match && i <= parents.length; i += 1) match = pattern.regex.test(parents.slice(0, i).join("/"));
    if (match) matched = !pattern.exclusion;
  }
  return matched;
}
