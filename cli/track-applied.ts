// `semail start`'s memory of the users list the last local apply started from, so the
// watcher that catches hand edits does not ask again for a list the form has already had
// applied (its own write fires the watcher).
import type { UsersList } from "../config/users-list.ts";
import type { Applier } from "../config/applier.ts";

/** What the entries say, compared as JSON as the users list watcher does: cheaper than serialising to YAML. */
const entriesOf = (list: UsersList) => JSON.stringify(list.entries);

/** `applier`, remembering the list each apply started from (forgotten when it fails). */
export function trackApplied(applier: Applier): { applier: Applier; covers(list: UsersList): boolean } {
  let started: string | undefined;
  return {
    applier: {
      // What else it answers (the kept mail of a deleted mailbox, SSH lines) passes through.
      ...applier,
      name: applier.name,
      async apply(context) {
        started = entriesOf(context.list);
        try {
          await applier.apply(context);
        } catch (err) {
          started = undefined;
          throw err;
        }
      },
    },
    covers: (list) => entriesOf(list) === started,
  };
}
