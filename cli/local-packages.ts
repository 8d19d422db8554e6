// The programs `semail start` runs, and the Debian packages that bring them, so a missing one
// is named with the package to install before anything starts.
import { access, constants } from "node:fs/promises";
import { WEBMAIL_PREREQUISITES } from "../services/webmail/roundcube.ts";

/** Debian packages behind the programs local mode runs, for the hint when one is missing. */
const PROGRAMS: ReadonlyArray<readonly [path: string, debianPackage: string, rootOnly: boolean]> = [
  ["/usr/sbin/slapd", "slapd", false],
  ["/usr/sbin/slapadd", "slapd", false],
  ["/usr/sbin/named", "bind9", false],
  ["/usr/bin/named-checkzone", "bind9-utils", false],
  ["/usr/sbin/mkfs.ext4", "e2fsprogs", true],
  ["/usr/sbin/losetup", "mount", true],
  ["/usr/bin/file", "file", true],
  // The local certificate (inbound's submission listeners, Dovecot).
  ["/usr/bin/openssl", "openssl", false],
  // Dovecot (IMAP and POP3 over the same mail) runs only as root.
  ["/usr/sbin/dovecot", "dovecot-core", true],
  ["/usr/lib/dovecot/imap", "dovecot-imapd", true],
  ["/usr/lib/dovecot/pop3", "dovecot-pop3d", true],
  ["/usr/lib/dovecot/modules/auth/libauthdb_ldap.so", "dovecot-ldap", true],
  // The webmail (Roundcube on php -S) talks to that Dovecot, so it runs only as root too.
  ...WEBMAIL_PREREQUISITES.map(([path, pkg]) => [path, pkg, true] as const),
];

/** The Debian packages to install before local mode can run (root also needs the loop-mount tools). */
export async function missingPackages(asRoot: boolean, programs = PROGRAMS): Promise<string[]> {
  const missing = new Set<string>();
  for (const [path, pkg, rootOnly] of programs) {
    if (rootOnly && !asRoot) continue;
    try {
      // A command must run; any other file (a plug-in, Roundcube's PHP) must only be there.
      await access(path, /\/s?bin\//.test(path) ? constants.X_OK : constants.R_OK);
    } catch {
      missing.add(pkg);
    }
  }
  return [...missing];
}
