// A move changes one thing in a users list: where one entry's mailbox is (host) and where it is
// going (moving). Each write reads the file again just before, checks the entry is where the
// move left it (an operator or another move may have changed it meanwhile: then the move stops
// rather than undo their change), and writes every other entry back as it was.
import {
  parseUsersList,
  serializeUsersList,
  type MailboxEntry,
  type UsersListOptions,
} from "../../config/users-list.ts";
import type { ListFile } from "./list-files.ts";
import { MoveError } from "./move-error.ts";

export interface Placement {
  readonly host: string;
  readonly moving?: string;
}

/** "host a" or "host a, moving to b". */
export function describePlacement(p: Placement): string {
  return p.moving === undefined ? `host ${p.host}` : `host ${p.host}, moving to ${p.moving}`;
}

function placementOfEntry(entry: MailboxEntry): Placement {
  return entry.moving === undefined ? { host: entry.host } : { host: entry.host, moving: entry.moving };
}

/** `entry` placed at `p`: host, and moving only when `p` has it. */
function placed(entry: MailboxEntry, p: Placement): MailboxEntry {
  const { moving: _dropped, ...rest } = entry;
  return p.moving === undefined ? { ...rest, host: p.host } : { ...rest, host: p.host, moving: p.moving };
}

/** The list's text with `owner` moved from `from` to `to`; a MoveError when the entry is not at `from`. */
export function replacePlacement(
  text: string,
  options: UsersListOptions,
  source: string,
  owner: string,
  from: Placement,
  to: Placement,
): string {
  const list = parseUsersList(text, options, source);
  const entry = list.byOwner(owner);
  if (!entry)
    throw new MoveError(
      `the users list ${source} has no entry for ${owner}: the hosts' lists must name the same mailboxes (or it was removed during the move, which stops here)`,
    );
  const now = placementOfEntry(entry);
  if (now.host !== from.host || now.moving !== from.moving)
    throw new MoveError(
      `the users list ${source} says ${owner} is on ${describePlacement(now)}, not ${describePlacement(from)}: someone changed it during the move, which stops here`,
    );
  return serializeUsersList(list.entries.map((e) => (e.owner === owner ? placed(e, to) : e)));
}

/** Reads `file`, moves the entry from `from` to `to`, writes it back atomically. */
export async function setPlacement(
  file: ListFile,
  options: UsersListOptions,
  owner: string,
  from: Placement,
  to: Placement,
): Promise<void> {
  await file.write(replacePlacement(await file.read(), options, file.where, owner, from, to));
}

/** Where `file` says the mailbox is now, or undefined when it cannot be read or has no entry. */
export async function placementIn(
  file: ListFile,
  options: UsersListOptions,
  owner: string,
): Promise<Placement | undefined> {
  try {
    const entry = parseUsersList(await file.read(), options, file.where).byOwner(owner);
    return entry && placementOfEntry(entry);
  } catch {
    return undefined;
  }
}
