// The fuzz targets: one file each in fuzz/targets/, exporting `fuzz(data: Buffer)`, which throws
// when its property does not hold. `instrument` names what Jazzer.js measures coverage of: our
// parser, and the library parser in front of it where there is one (its coverage guides the
// fuzzer to inputs that get through to ours).
import { join } from "node:path";

export interface FuzzTarget {
  readonly name: string;
  /** Path fragments of the files to instrument for coverage. */
  readonly instrument: readonly string[];
}

const OURS = ["/config/", "/mailservers/", "/lib/"];

export const TARGETS: readonly FuzzTarget[] = [
  { name: "smtp-address", instrument: [...OURS, "/node_modules/smtp-server/"] },
  { name: "message-guard", instrument: OURS },
  { name: "mboxo", instrument: OURS },
  { name: "mbox-prefix", instrument: OURS },
  { name: "folder-name", instrument: OURS },
  { name: "users-list", instrument: [...OURS, "/node_modules/yaml/"] },
  { name: "settings", instrument: [...OURS, "/node_modules/yaml/"] },
  { name: "ssh-key", instrument: OURS },
  { name: "autoconfig", instrument: OURS },
  { name: "spool-segment", instrument: OURS },
  { name: "spool-journal", instrument: OURS },
];

export const FUZZ_DIR = import.meta.dirname;
export const targetFile = (name: string): string => join(FUZZ_DIR, "targets", `${name}.ts`);
/** The corpus kept in the repository: small, merged to the inputs that add coverage. */
export const corpusDir = (name: string): string => join(FUZZ_DIR, "corpus", name);
/** Every crash found, kept: tests/fuzz/regressions.test.ts replays each through its target. */
export const regressionsDir = (name: string): string => join(FUZZ_DIR, "regressions", name);
