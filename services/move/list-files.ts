// The users lists a move writes: ours (settings users) and the target's own when it has one
// (hosts.<name>.users), on this machine or over the target's ssh. Each write is atomic (a temp
// file beside it, synced, renamed over it) and keeps the file's mode and owner, so whatever
// reads it now (a daemon that is not root) still can.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { MoveError } from "./move-error.ts";
import { describePlace, runAt, type Place } from "./place.ts";

export interface ListFile {
  /** For messages: the path and where it is. */
  readonly where: string;
  read(): Promise<string>;
  write(text: string): Promise<void>;
}

/** A list file on this machine. */
export function localListFile(file: string): ListFile {
  return {
    where: file,
    async read() {
      try {
        return await readFile(file, "utf8");
      } catch (error) {
        throw new MoveError(`cannot read the users list ${file}: ${(error as Error).message}`);
      }
    },
    async write(text) {
      const { mode, uid, gid } = await stat(file);
      await writeFileAtomic(file, text, mode & 0o7777, { uid, gid });
    },
  };
}

/** `sh -c` script, $1 the file: replaces it with stdin as writeFileAtomic does, mode and owner kept. */
const WRITE_KEEPING_MODE = `set -e
dir=$(dirname -- "$1"); temp="$dir/.$(basename -- "$1").semail-move.$$.tmp"
trap 'rm -f -- "$temp"' EXIT
cat > "$temp"
chown --reference="$1" -- "$temp"; chmod --reference="$1" -- "$temp"
sync -- "$temp"; mv -f -- "$temp" "$1"; trap - EXIT; sync -- "$dir"`;

/** A list file at `place`: over its ssh, or here when it has none. */
export function listFileAt(place: Place, file: string): ListFile {
  if (!place.ssh) return localListFile(file);
  const where = `${file} on ${describePlace(place)}`;
  return {
    where,
    read: () => runAt(place, 'cat -- "$1"', [file]),
    write: async (text) => {
      await runAt(place, WRITE_KEEPING_MODE, [file], { stdin: text });
    },
  };
}

/** Our list, then the target's when it is another file: the order of the switch and the handover. */
export function listFilesOf(ours: string, target: Place, targetUsers: string | undefined): ListFile[] {
  const files = [localListFile(ours)];
  if (targetUsers === undefined) return files;
  if (!target.ssh && path.resolve(targetUsers) === path.resolve(ours)) return files;
  return [...files, listFileAt(target, targetUsers)];
}
