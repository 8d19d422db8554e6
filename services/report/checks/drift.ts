// Drift: whether what runs is what the users list and the program say. Local mode records the
// list it last applied (report.appliedUsersFile, a users list file); a users list on disk that
// differs from it was not applied (an apply failed, or local mode is not running). Under
// Pulumi, the engine's refreshed preview says what `up` would change; it takes tens of seconds,
// so it runs only when asked (`semail report --drift`) and reaches the report as a function.
import { readFile, stat } from "node:fs/promises";
import { usersListOptions, type Settings } from "../../../config/settings.ts";
import { parseUsersList, type MailboxEntry, type UsersList } from "../../../config/users-list.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** The refreshed preview's changes, one line per resource ("~ update  ...  inbound-container"). */
export type DriftPreview = () => Promise<readonly string[]>;

export async function appliedListFindings(settings: Settings, users: UsersList): Promise<Finding[]> {
  const file = settings.report.appliedUsersFile;
  if (file === undefined)
    return [ok("drift", "users list", "not applicable: no record of an applied list (report.appliedUsersFile)")];
  const subject = `users list ${settings.users}`;
  let text: string;
  let at: Date;
  try {
    [text, at] = await Promise.all([readFile(file, "utf8"), stat(file).then((s) => s.mtime)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return [
      warn(
        "drift",
        subject,
        `never applied: ${file} does not exist`,
        "start local mode (`semail start`), which applies it",
      ),
    ];
  }
  const applied = parseUsersList(text, usersListOptions(settings), file);
  const changed = differences(applied.entries, users.entries);
  if (changed.length === 0) return [ok("drift", subject, `applied as it is (${at.toISOString()})`)];
  return [
    warn(
      "drift",
      subject,
      `differs from the list last applied (${at.toISOString()}): ${changed.join(", ")}`,
      "local mode applies a changed list itself: see the form's apply status for its error, or restart `semail start`",
    ),
  ];
}

/** "ada@x added", "bob@y removed", "carl@z changed", by address. */
function differences(applied: readonly MailboxEntry[], current: readonly MailboxEntry[]): string[] {
  const before = new Map(applied.map((e) => [e.address, JSON.stringify(e)]));
  const after = new Map(current.map((e) => [e.address, JSON.stringify(e)]));
  const out: string[] = [];
  for (const [address, entry] of after)
    if (!before.has(address)) out.push(`${address} added`);
    else if (before.get(address) !== entry) out.push(`${address} changed`);
  for (const address of before.keys()) if (!after.has(address)) out.push(`${address} removed`);
  return out.sort();
}

export async function previewFindings(preview: DriftPreview, stack: string): Promise<Finding[]> {
  const subject = `stack ${stack}`;
  let changes: readonly string[];
  try {
    changes = await preview();
  } catch (err) {
    return [
      fail(
        "drift",
        subject,
        `the preview failed: ${(err as Error).message}`,
        "run `semail deploy drift` and read its error",
      ),
    ];
  }
  if (changes.length === 0) return [ok("drift", subject, "the hosts match the program")];
  const n = changes.length;
  return [
    warn(
      "drift",
      subject,
      `${n} resource${n === 1 ? "" : "s"} would change: ${changes.map((c) => c.trim().replace(/\s+/g, " ")).join("; ")}`,
      "semail deploy up --refresh",
    ),
  ];
}
