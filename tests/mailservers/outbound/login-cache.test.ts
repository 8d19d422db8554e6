// Remembered logins against a real slapd: a repeated login within the minute does not
// reach the directory, a wrong password always does, the memory ends on the clock, and an
// account locked by guessing stays locked even for a remembered password.
import assert from "node:assert/strict";
import { it } from "node:test";
import { UsersList } from "../../../config/users-list.ts";
import { createDirectory } from "../../../directory/ldap.ts";
import type { Directory } from "../../../config/directory.ts";
import { silentLogger } from "../../../lib/logger.ts";
import type { SessionInfo } from "../../../mailservers/core/types.ts";
import { createSubmissionBackend } from "../../../mailservers/outbound/backend.ts";
import { rememberLogins } from "../../../mailservers/outbound/login-cache.ts";
import { networkSet } from "../../../mailservers/outbound/network-policy.ts";
import { Spool } from "../../../mailservers/outbound/relay/index.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";

const alice = TEST_USERS.find((u) => u.uid === "alice")!;
const slapd = slapdForFile();

/** The real directory, with its binds counted. */
function counted(): { directory: Directory; binds: () => number } {
  const real = createDirectory(slapd.settings());
  let binds = 0;
  return {
    directory: {
      authenticate: (uid, password) => {
        binds++;
        return real.authenticate(uid, password);
      },
      isAdmin: (uid) => real.isAdmin(uid),
      close: () => real.close(),
    },
    binds: () => binds,
  };
}

it("a login repeated within the minute is not asked again; a wrong password always is; the memory ends on the clock", async () => {
  let now = 0;
  const { directory, binds } = counted();
  const remembering = rememberLogins(directory, { ttlMs: 60_000, maxEntries: 10, now: () => now });
  assert.equal((await remembering.authenticate("alice", alice.password)).ok, true);
  assert.equal(binds(), 1);
  now = 59_000;
  const again = await remembering.authenticate("alice", alice.password);
  assert.equal(again.ok && again.user.uid, "alice");
  assert.equal(binds(), 1, "remembered");
  assert.equal((await remembering.authenticate("alice", `${alice.password}x`)).ok, false);
  assert.equal((await remembering.authenticate("alice", `${alice.password}x`)).ok, false);
  assert.equal(binds(), 3, "a wrong password is never remembered");
  now = 60_000;
  assert.equal((await remembering.authenticate("alice", alice.password)).ok, true);
  assert.equal(binds(), 4, "asked again once the minute is over");
});

it("a remembered password does not open an account locked by guessing", async () => {
  const { directory, binds } = counted();
  const session: SessionInfo = {
    id: "s",
    remoteAddress: "127.0.0.1",
    remotePort: 1,
    localAddress: "127.0.0.1",
    localPort: 2,
    clientHostname: "c",
    secure: false,
  };
  const backend = createSubmissionBackend({
    directory,
    users: () => new UsersList([]),
    spool: new Spool("/nonexistent"),
    queue: { add: async () => {} },
    hostname: "h",
    trustedNetworks: networkSet([], "x"),
    logger: silentLogger(),
    authFailures: { perIp: 100, perAccount: 2, windowMs: 60_000 },
  });
  assert.equal(await backend.authenticate!("alice", alice.password, session), "alice");
  assert.equal(await backend.authenticate!("alice", alice.password, session), "alice");
  assert.equal(binds(), 1, "the backend remembers by default");
  for (let i = 0; i < 2; i++) assert.equal(await backend.authenticate!("alice", "guess", session), undefined);
  await assert.rejects(backend.authenticate!("alice", alice.password, session), { responseCode: 454 });
});
