// Local mode's memory of the users list the last local apply started from, so the watcher
// that catches hand edits does not ask again for a list the form has already had applied
// (its own write fires the watcher), and does not even parse the text the form wrote. Given a
// `record` file, each list applied in full is also written there (a users list file), for
// `semail report` to compare with the list on disk (report.appliedUsersFile).
import type { Applier } from "../../config/applier.ts";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { serializeUsersList, type UsersList } from "../../config/users-list.ts";

/** What the entries say, compared as JSON as the users list watcher does: cheaper than serialising to YAML. */
const entriesOf = (list: UsersList) => JSON.stringify(list.entries);

export interface TrackedApplier {
  readonly applier: Applier;
  /** `list` has the entries the last apply started from (in any layout of its file). */
  covers(list: UsersList): boolean;
  /** `text` is the file the form writes for the list the last apply started from: nothing to parse. */
  knows(text: string): boolean;
}

/** `applier`, remembering the list each apply started from (forgotten when it fails); `record` gets each list applied. */
export function trackApplied(applier: Applier, record?: string): TrackedApplier {
  let started: { entries: string; text: string } | undefined;
  // What else it answers (SSH lines, the webmail, the kept mail of a deleted mailbox) passes
  // through, methods of a class instance as well as own properties.
  const optional = {
    ...(applier.sshCommand ? { sshCommand: applier.sshCommand.bind(applier) } : {}),
    ...(applier.webmailUrl ? { webmailUrl: applier.webmailUrl.bind(applier) } : {}),
    ...(applier.keptMail ? { keptMail: applier.keptMail.bind(applier) } : {}),
    ...(applier.decideKeptMail ? { decideKeptMail: applier.decideKeptMail.bind(applier) } : {}),
  };
  return {
    applier: {
      ...optional,
      name: applier.name,
      async apply(context) {
        // The form writes exactly this text (writeUsersList) for the list it asks to apply.
        const list = { entries: entriesOf(context.list), text: serializeUsersList(context.list.entries) };
        started = list;
        try {
          await applier.apply(context);
        } catch (err) {
          started = undefined;
          throw err;
        }
        if (record !== undefined) await writeFileAtomic(record, list.text, 0o644);
      },
    },
    covers: (list) => entriesOf(list) === started?.entries,
    knows: (text) => text === started?.text,
  };
}
