// Which files of a mailbox root (<mailRoot>/<owner>/) a move copies, compares and clears: all
// of them (INBOX, mail/, a reader's index files) except what belongs to the filesystem or the
// host: lost+found of a mounted root, provisioning's marker (each host's own), and dotlocks (a
// copied lock would look held on the target). rsync's filters and the shell's `find` say the
// same, so the verification compares exactly what was copied.
import { PROVISIONED_MARKER } from "../../config/mailbox-layout.ts";

/** rsync's filter rules for the copy; an excluded file on the target is also kept by --delete. */
export const RSYNC_FILTERS: readonly string[] = [
  "--exclude=/lost+found",
  `--exclude=/${PROVISIONED_MARKER}`,
  "--exclude=*.lock",
  "--exclude=.*.lock.*",
];

/** The same set for `find` run in the root: prune lost+found and the marker, skip the locks. */
const FIND_COPIED = `find . \\( -path ./lost+found -o -path ./${PROVISIONED_MARKER} \\) -prune -o -type f ! -name '*.lock' ! -name '.*.lock.*'`;

/**
 * `sh -c` script, $1 the root: "missing" when it is no directory (or a symlink), else "root"
 * and then the mail already there: any non-empty file outside hidden names and lost+found.
 */
export const MAIL_IN_ROOT = `if [ ! -d "$1" ] || [ -L "$1" ]; then echo missing; exit 0; fi
cd -- "$1" && echo root && find . -mindepth 1 \\( -name '.*' -o -path ./lost+found \\) -prune -o -type f -size +0c ! -name '*.lock' -print | head -n 20`;

/** `sh -c` script, $1 the root: `sha256sum` of every copied file, as lines "HASH  ./path". */
export const HASH_FILES = `cd -- "$1" && LC_ALL=C ${FIND_COPIED} -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --`;

/**
 * `sh -c` script, $1 the root, $2 "provisioned" or "bare": removes every copied file and folder
 * (the root itself may be a mount point, and stays); "provisioned" leaves what provisioning
 * made (an empty INBOX and mail/, owned as the root is), "bare" removes the marker too.
 */
export const CLEAR_ROOT = `set -e
cd -- "$1"
if [ "$2" = bare ]; then rm -f -- ./${PROVISIONED_MARKER}; fi
find . -mindepth 1 -maxdepth 1 ! -name lost+found ! -name ${PROVISIONED_MARKER} -exec rm -rf -- {} +
if [ "$2" = provisioned ]; then
  owner=$(stat -c %u:%g .)
  : > INBOX && mkdir -p mail && chown "$owner" INBOX mail && chmod 600 INBOX && chmod 700 mail
fi`;

/** "./INBOX" → "INBOX": how `find` names a file, as a message says it. */
export function relativeName(found: string): string {
  return found.replace(/^\.\//, "");
}
