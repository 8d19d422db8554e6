// Letting go of the mailboxes this host no longer stores. When the users list says a mailbox
// here is being moved away (`moving`) or lives on another host (`host`), the store lets go of it
// (store.release: the commits under way end, its files close, later deliveries wait and fail
// 4xx) and a note says so (config/mailbox-release.ts), for `semail mailbox move`, which waits for
// it before its final copy. The
// mailbox stays released while its entry stays away; back here without `moving`, the store
// takes it again and the note is removed. Notes outlive a restart: at start every mailbox
// away is released again and the notes of those back here are removed.
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { MOVES_DIR, NOTE_SUFFIX, releaseNotePath, type ReleaseNote } from "../../config/mailbox-release.ts";
import { ownerProblem, type MailboxEntry, type UsersList } from "../../config/users-list.ts";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import type { MboxStore } from "./store/index.ts";

export interface MailboxReleasesOptions {
  readonly store: Pick<MboxStore, "release" | "provisioned">;
  readonly mailRoot: string;
  readonly hostName: string;
  readonly logger: Logger;
  readonly clock?: () => number;
}

export interface MailboxReleases {
  /** Releases and takes back mailboxes as `list` says; calls run one after another; a failure is logged, and the next call tries again. */
  follow(list: UsersList): Promise<void>;
  /** Resolves once the calls made so far are done (the daemon's stop). */
  idle(): Promise<void>;
}

/** Where `entry` goes when it is not (or no longer) stored here; undefined while it is, or while it is coming here. */
function awayTo(entry: MailboxEntry, hostName: string): string | undefined {
  const to = entry.moving ?? entry.host;
  return to === hostName ? undefined : to;
}

export function createMailboxReleases(options: MailboxReleasesOptions): MailboxReleases {
  const { store, hostName, logger } = options;
  const clock = options.clock ?? Date.now;
  const dir = path.join(path.resolve(options.mailRoot), MOVES_DIR);
  /** Owners let go: the function that takes them back, and where their note says they went (once written). */
  const released = new Map<string, { readonly takeBack: () => void; noted?: string }>();
  let started = false;
  let running: Promise<void> = Promise.resolve();

  const writeNote = async (owner: string, to: string): Promise<void> => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const note: ReleaseNote = { owner, host: hostName, to, at: new Date(clock()).toISOString() };
    await writeFileAtomic(releaseNotePath(options.mailRoot, owner), `${JSON.stringify(note)}\n`, 0o600);
  };

  /** At start: notes left for owners that are back here (or gone) are removed. */
  const removeStaleNotes = async (list: UsersList): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const name of names) {
      if (!name.endsWith(NOTE_SUFFIX)) continue;
      const owner = name.slice(0, -NOTE_SUFFIX.length);
      const entry = list.byOwner(owner);
      if (ownerProblem(owner) === undefined && entry && awayTo(entry, hostName) !== undefined) continue;
      await rm(path.join(dir, name), { force: true });
    }
  };

  const apply = async (list: UsersList): Promise<void> => {
    if (!started) {
      await removeStaleNotes(list);
      started = true;
    }
    for (const entry of list.mailboxes) {
      const to = awayTo(entry, hostName);
      const held = released.get(entry.owner);
      if (to === undefined) {
        if (!held) continue;
        // The note goes first: one left behind would tell a later move its mailbox was let go.
        await rm(releaseNotePath(options.mailRoot, entry.owner), { force: true });
        released.delete(entry.owner);
        held.takeBack();
        logger.info({ owner: entry.owner }, "mailbox back on this host: stored here again");
        continue;
      }
      if (held) {
        // Written again when its destination changed, or when writing it failed last time.
        if (held.noted !== to) {
          await writeNote(entry.owner, to);
          held.noted = to;
        }
        continue;
      }
      // Ours to let go when it was here: its entry still says so (moving from here), or its root is here.
      if (entry.host !== hostName && !(await store.provisioned(entry.owner))) continue;
      const letGo: { readonly takeBack: () => void; noted?: string } = { takeBack: await store.release(entry.owner) };
      released.set(entry.owner, letGo);
      await writeNote(entry.owner, to);
      letGo.noted = to;
      logger.info({ owner: entry.owner, to }, "mailbox released: no longer stored on this host");
    }
  };

  return {
    follow(list) {
      // Logged, not thrown: one failure (a full disk for a note) does not stop the next list.
      running = running
        .then(() => apply(list))
        .catch((err: unknown) => {
          logger.error({ err, dir }, "could not release or take back a mailbox (its note under the mail root)");
        });
      return running;
    },
    idle: () => running,
  };
}
