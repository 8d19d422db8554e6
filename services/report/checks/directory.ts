// The directory answers: every login (SMTP AUTH, IMAP, the web form) asks it. While it is
// down, AUTH gets 454 and the form says so; the report says it first.
import type { Directory } from "../../../config/directory.ts";
import { fail, ok, type Finding } from "../check.ts";

/** A uid no one has: asking whether it is an administrator needs the directory to answer, and changes nothing. */
const PROBE_UID = "semail-report-probe";

export async function directoryFindings(directory: Directory, url: string): Promise<Finding[]> {
  try {
    await directory.isAdmin(PROBE_UID);
    return [ok("directory", url, "answers")];
  } catch (err) {
    return [
      fail(
        "directory",
        url,
        `does not answer: ${(err as Error).message}`,
        "start slapd (or the LDAP server ldap.url names) and check ldap.bindDn's password",
      ),
    ];
  }
}
