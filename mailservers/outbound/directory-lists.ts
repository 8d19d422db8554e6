// The directory's mailing lists as outbound's forward policy reads them: asked when needed,
// kept `ttlMs`, one read at a time; `fresh` reads again at once (the policy asks so before it
// refuses: inbound may have read a membership change we have not yet). A failed read keeps the last good lists; with none yet it rejects, and the policy
// answers 4xx.
import type { MailingList } from "../../config/mailing-lists.ts";

export type DirectoryLists = (fresh?: boolean) => Promise<readonly MailingList[]>;

export function cachedDirectoryLists(
  load: () => Promise<readonly MailingList[]>,
  ttlMs: number,
  now: () => number,
): DirectoryLists {
  let last: { at: number; lists: readonly MailingList[] } | undefined;
  let reading: Promise<readonly MailingList[]> | undefined;
  return (fresh = false) => {
    if (!fresh && last && now() - last.at < ttlMs) return Promise.resolve(last.lists);
    reading ??= load()
      .then(
        (lists) => {
          last = { at: now(), lists };
          return lists;
        },
        (err: unknown) => {
          if (last) return last.lists;
          throw err;
        },
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
}
