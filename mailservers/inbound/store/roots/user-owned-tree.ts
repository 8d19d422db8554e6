// The mail root as a tree the store writes into as root, while each user owns and can
// change their own <mail-root>/<owner>/ (their mailbox root) from their container. Two
// consequences:
// - A user can swap <owner>/mail/ for a symlink between our checks and an open(2):
//   O_NOFOLLOW guards only the last component, and Node has no openat(2). So each opened
//   mbox is checked by where its descriptor really is (/proc/self/fd), which no rename
//   can fake, before a byte is written to it.
// - What the store creates (mail/ and its folder files) must be the user's, or they could
//   not read their own folders: it gets the owner of <owner>/ (set by mailbox-fs.sh).
import { closeSync, constants, fchownSync, lstatSync, openSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";

export class UserOwnedTree {
  readonly path: string;
  #real: string | undefined;

  /** `mailRoot` is set by the administrator: its own symlinks, if any, are trusted. */
  constructor(mailRoot: string) {
    this.path = path.resolve(mailRoot);
  }

  /** Whether `fd` is open on `file` itself (a path below the mail root), not on a file a symlinked directory led to. */
  holds(fd: number, file: string): boolean {
    this.#real ??= realpathSync(this.path);
    const expected = path.join(this.#real, path.relative(this.path, file));
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === expected;
    } catch {
      return false; // no /proc: refuse rather than write blind
    }
  }

  /**
   * Gives `fd`, a file or directory the store just created below `root` (a mailbox root),
   * to the owner of `root`. Only root can chown: a daemon run by a plain user (a checkout's
   * `semail start`) leaves its files its own.
   */
  giveToOwner(fd: number, root: string): void {
    if (process.geteuid?.() !== 0) return;
    const { uid, gid } = lstatSync(root);
    fchownSync(fd, uid, gid);
  }

  /** `giveToOwner` for a directory the store made, opened without following a link. */
  giveDirectoryToOwner(directory: string, root: string): void {
    if (process.geteuid?.() !== 0) return;
    const fd = openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      this.giveToOwner(fd, root);
    } finally {
      closeSync(fd);
    }
  }

  /** The mailbox root (<mail-root>/<owner>) that `file` is below. */
  rootOf(file: string): string {
    const [owner] = path.relative(this.path, file).split(path.sep);
    return path.join(this.path, owner!);
  }
}
