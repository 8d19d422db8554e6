// One full, compacting garbage collection once a daemon is up. Start-up (reading the
// settings and the users list, compiling the libraries) leaves a few MB of garbage and
// half-empty heap pages that V8 would otherwise keep until traffic makes it collect;
// on an idle daemon that is about 3 MB of RSS (bench/inbound measures idle memory).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Gc = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

export function compactHeap(): void {
  // Node has no API for it: expose V8's gc() now, to a fresh context only, instead of
  // starting node with --expose-gc, which would put gc() in every module's scope.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as Gc | undefined;
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
}
