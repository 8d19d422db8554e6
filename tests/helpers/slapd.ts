// A seeded slapd in a temp dir for tests: the real launcher (deploy/local/slapd.ts) plus cleanup
// and ready-made LDAP settings. One per test file; stop() also removes its data.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { ldapSettings, type LdapSettings } from "../../config/sections/ldap.ts";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../directory/types.ts";
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

/** One slapd and a directory client on it for a whole test file: started before its tests, stopped after them. */
export function testDirectoryForFile(users?: readonly SlapdUser[]): { readonly slapd: TestSlapd; readonly directory: Directory } {
  let slapd: TestSlapd | undefined;
  let directory: Directory | undefined;
  before(async () => {
    slapd = await startTestSlapd(users ? { users } : {});
    directory = createDirectory(slapd.settings());
  });
  after(async () => {
    await directory?.close();
    await slapd?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the test directory starts in before(): use it inside a test");
    return value;
  };
  return { get slapd() { return started(slapd); }, get directory() { return started(directory); } };
}
