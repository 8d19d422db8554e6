// The note an inbound daemon writes when it has let go of a mailbox that leaves its host, and
// `semail mailbox move` waits for (mailservers/inbound/released-mailboxes.ts writes it,
// services/move/released.ts reads it): one path and one shape for both sides.
//
//   <mailRoot>/.semail-moves/<owner>.released   {"owner","host","to","at"}
import path from "node:path";
import { ownerProblem } from "./users-list.ts";

/** The folder of the notes, under the mail root (a name no owner can have). */
export const MOVES_DIR = ".semail-moves";
export const NOTE_SUFFIX = ".released";

/** What a note says. */
export interface ReleaseNote {
  readonly owner: string;
  /** This host's name (settings.hostName). */
  readonly host: string;
  /** The host the mailbox goes to: its entry's `moving`, else its `host`. */
  readonly to: string;
  /** When it was let go, ISO 8601. */
  readonly at: string;
}

/** The path of `owner`'s note under `mailRoot`, checked to stay inside the notes' folder. */
export function releaseNotePath(mailRoot: string, owner: string): string {
  const problem = ownerProblem(owner);
  if (problem) throw new Error(`cannot name a release note: ${problem}`);
  const dir = path.join(path.resolve(mailRoot), MOVES_DIR);
  const file = path.join(dir, `${owner}${NOTE_SUFFIX}`);
  if (path.dirname(file) !== dir) throw new Error(`release note for ${JSON.stringify(owner)} falls outside ${dir}`);
  return file;
}
