// Upstream's diff (pulumi-go-provider's default for a resource with an Update): the old
// inputs against the new, input by input. A change in a replaceOnChanges input (`triggers`,
// for both resources) replaces; any other change (create, update, delete, stdin,
// environment, connection, source, remotePath) updates in place. No deleteBeforeReplace:
// the engine creates the replacement first unless the program says otherwise.
import type { DiffResult, PropertyChange } from "./resource-kind.ts";
import { sameValue, type Props } from "./wire-values.ts";

function present(props: Props, name: string): boolean {
  return props[name] !== undefined && props[name] !== null;
}

/** Engine bookkeeping, never an input of the resource. */
function internal(name: string): boolean {
  return name === "version" || name.startsWith("__");
}

export function diffInputs(oldInputs: Props, news: Props, replaceOnChanges: readonly string[]): DiffResult {
  const names = new Set([...Object.keys(oldInputs), ...Object.keys(news)].filter((n) => !internal(n)));
  const changes: Record<string, PropertyChange> = {};
  for (const name of names) {
    const before = present(oldInputs, name);
    const after = present(news, name);
    if (before && after) {
      if (!sameValue(oldInputs[name], news[name])) changes[name] = "update";
    } else if (after) {
      changes[name] = "add";
    } else if (before) {
      changes[name] = "delete";
    }
  }
  const changed = Object.keys(changes);
  return { changed: changed.length > 0, changes, replaces: changed.filter((n) => replaceOnChanges.includes(n)) };
}
