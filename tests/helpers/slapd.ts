// A seeded slapd in a temp dir for tests: the real launcher (deploy/local/slapd.ts) plus cleanup
// and ready-made LDAP settings. One per test file; stop() also removes its data.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ldapSettings, type LdapSettings } from "../../config/sections/ldap.ts";
import { startSlapd, type RunningSlapd, type SlapdUser } from "../../deploy/local/slapd.ts";

/** alice and bob are plain users; "admin" is a user (and in the admin group) so injection attempts naming it mean something. */
export const TEST_USERS: readonly SlapdUser[] = [
  { uid: "alice", password: "alice-Secret1", cn: "Alice Example", mail: "alice@example.test" },
  { uid: "bob", password: "bob-Secret2", cn: "Bob Example" },
  { uid: "admin", password: "admin-Secret3", cn: "Admin Example" },
];
export const TEST_ADMINS: readonly string[] = ["admin"];
export const TEST_ADMIN_PASSWORD = "manager-Secret0";

export interface TestSlapd extends RunningSlapd {
  readonly dataDir: string;
  /** LDAP settings pointing at this slapd (user DN template mode), with `overrides` applied. */
  settings(overrides?: Partial<LdapSettings>): LdapSettings;
}

export async function startTestSlapd(
  options: { users?: readonly SlapdUser[]; admins?: readonly string[]; tls?: { certFile: string; keyFile: string } } = {},
): Promise<TestSlapd> {
  const dataDir = await mkdtemp(join(tmpdir(), "semail-slapd-"));
  let running: RunningSlapd;
  try {
    running = await startSlapd({ dataDir, users: options.users ?? TEST_USERS, admins: options.admins ?? TEST_ADMINS, adminPassword: TEST_ADMIN_PASSWORD, ...(options.tls && { tls: options.tls }) });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...running,
    dataDir,
    settings: (overrides = {}) =>
      ldapSettings.parse({ url: running.url, baseDn: running.baseDn, userDnTemplate: running.userDnTemplate, adminGroupDn: running.adminGroupDn, timeoutMs: 3000, ...overrides }),
    stop: async () => {
      await running.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
