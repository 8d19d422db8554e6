// Upstream's bridge auto-names a Container's or Network's `name` when the program leaves it
// unset (SetAutonaming(255, "-")): the resource's name, a dash, seven random characters,
// kept across updates; `__defaults` in the checked inputs records that it was made up. A
// name the program sets itself makes a replacement delete the old resource first.
import { createHash } from "node:crypto";
import type { CheckContext } from "../resource-kind.ts";
import type { Props } from "../wire.ts";

const DEFAULTS = "__defaults";

/** `news` with `name` filled in (when unset) and `__defaults` saying so. */
export function withAutoName(olds: Props, news: Props, context: CheckContext): Props {
  if (news.name !== undefined && news.name !== null) return { ...news, [DEFAULTS]: [] };
  const oldDefaults = Array.isArray(olds[DEFAULTS]) ? (olds[DEFAULTS] as unknown[]) : [];
  const kept = typeof olds.name === "string" && oldDefaults.includes("name") ? olds.name : undefined;
  // The engine's seed for this resource: a preview and the update that follows agree.
  const suffix = createHash("sha256").update(context.seed).update(context.name).digest("hex").slice(0, 7);
  return { ...news, name: kept ?? `${context.name}-${suffix}`, [DEFAULTS]: ["name"] };
}

/** True when the program named the resource itself (not auto-named). */
export function namedByProgram(news: Props): boolean {
  const defaults = Array.isArray(news[DEFAULTS]) ? (news[DEFAULTS] as unknown[]) : [];
  return !defaults.includes("name");
}
