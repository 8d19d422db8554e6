// A seeded slapd in a temp dir for tests: the real launcher (deploy/local/slapd.ts) plus cleanup
// and ready-made LDAP settings. One per test file; stop() also removes its data.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { ldapSettings, type LdapSettings } from "../../config/sections/ldap.ts";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../config/directory.ts";
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
  options: {
    users?: readonly SlapdUser[];
    admins?: readonly string[];
    tls?: { certFile: string; keyFile: string };
  } = {},
): Promise<TestSlapd> {
  const dataDir = await mkdtemp(join(tmpdir(), "semail-slapd-"));
  let running: RunningSlapd;
  try {
    running = await startSlapd({
      dataDir,
      users: options.users ?? TEST_USERS,
      admins: options.admins ?? TEST_ADMINS,
      adminPassword: TEST_ADMIN_PASSWORD,
      ...(options.tls && { tls: options.tls }),
    });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...running,
    dataDir,
    settings: (overrides = {}) =>
      ldapSettings.parse({
        url: running.url,
        baseDn: running.baseDn,
        userDnTemplate: running.userDnTemplate,
        adminGroupDn: running.adminGroupDn,
        timeoutMs: 3000,
        ...overrides,
      }),
    stop: async () => {
      await running.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A stand-in for a value made in a before() hook: reads (and calls, bound) go to the value
 * once it exists, so it can be taken at module level and used inside tests and hooks.
 */
function madeInBefore<T extends object>(what: string, get: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_, key) {
      const value = get();
      if (value === undefined) throw new Error(`${what} starts in before(): use it inside a test or hook`);
      const member: unknown = Reflect.get(value, key);
      return typeof member === "function" ? member.bind(value) : member;
    },
  });
}

/** Options for the file's slapd: its users (default TEST_USERS) and TLS. */
export type TestSlapdOptions = Parameters<typeof startTestSlapd>[0];

/**
 * One slapd for a whole test file (or `describe` block): started in its before(), stopped
 * (data removed) in its after(). Call it at module level; use the handle inside tests and hooks.
 */
export function slapdForFile(options: TestSlapdOptions = {}): TestSlapd {
  let slapd: TestSlapd | undefined;
  before(async () => {
    slapd = await startTestSlapd(options);
  });
  after(async () => {
    await slapd?.stop();
  });
  return madeInBefore("the test slapd", () => slapd);
}

/**
 * One slapd and a directory client on it for a whole test file: started before its tests,
 * closed and stopped after them. Either may be destructured at module level.
 */
export function testDirectoryForFile(users?: readonly SlapdUser[]): {
  readonly slapd: TestSlapd;
  readonly directory: Directory;
} {
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
  return {
    slapd: madeInBefore("the test slapd", () => slapd),
    directory: madeInBefore("the test directory", () => directory),
  };
}
