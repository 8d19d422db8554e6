// SMTP AUTH as both daemons do it, against a real slapd: the uid or a live mailbox address
// as the login, the same failure for every wrong part, one throttle for both spellings.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseUsersList } from "../../../config/users-list.ts";
import { createDirectory } from "../../../directory/ldap.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { createAuthenticator, loginUid } from "../../../mailservers/core/authenticate.ts";
import type { SessionInfo } from "../../../mailservers/core/types.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";

const alice = TEST_USERS.find((u) => u.uid === "alice")!;
const admin = TEST_USERS.find((u) => u.uid === "admin")!;

const users = parseUsersList(
  `mailboxes:
  - {owner: alice, address: alice@semail.test}
  - {owner: admin, address: carol@carol.example, pendingProof: 0123456789abcdef0123456789abcdef}
`,
  { managedDomain: "semail.test", defaultSize: 1024 ** 3, minSize: 1 },
);

const session = (secure = true, remoteAddress = "192.0.2.7"): SessionInfo => ({
  id: "s",
  remoteAddress,
  remotePort: 1,
  localAddress: "192.0.2.1",
  localPort: 587,
  clientHostname: "c",
  secure,
});

const slapd = slapdForFile();

const authenticator = (failures = { perIp: 100, perAccount: 100, windowMs: 60_000 }) =>
  createAuthenticator({
    directory: createDirectory(slapd.settings()),
    users: () => users,
    plaintextAllowed: () => false,
    failures,
    logger: silentLogger(),
  });

describe("loginUid", () => {
  it("keeps a uid as typed and maps a live address, case-folded in ASCII, to its owner", () => {
    assert.equal(loginUid("alice", users), "alice");
    assert.equal(loginUid("alice@semail.test", users), "alice");
    assert.equal(loginUid("ALICE@Semail.TEST", users), "alice");
    assert.equal(loginUid("carol@carol.example", users), undefined, "pending: not live");
    assert.equal(loginUid("nobody@semail.test", users), undefined);
    assert.equal(loginUid("alice@semail.test@evil.example", users), undefined);
  });
});

describe("createAuthenticator", () => {
  it("logs in by uid and by live mailbox address, as the owner", async () => {
    const auth = authenticator();
    assert.equal(await auth("alice", alice.password, session()), "alice");
    assert.equal(await auth("Alice@SEMAIL.test", alice.password, session()), "alice");
  });

  it("answers an unknown address, a pending one, a wrong password and an injection alike: undefined", async () => {
    const auth = authenticator();
    for (const [login, password] of [
      ["alice@semail.test", "wrong"],
      ["nobody@semail.test", alice.password],
      ["carol@carol.example", admin.password],
      ["alice)(uid=*", alice.password],
      ["*", alice.password],
      ["alice@semail.test", ""],
    ] as const) {
      assert.equal(await auth(login, password, session()), undefined, `${login} / ${password}`);
    }
  });

  it("refuses AUTH without TLS where the daemon says so: 538 5.7.11", async () => {
    await assert.rejects(authenticator()("alice", alice.password, session(false)), {
      responseCode: 538,
      enhancedCode: "5.7.11",
    });
  });

  it("counts failures of both spellings against one account", async () => {
    const auth = authenticator({ perIp: 100, perAccount: 2, windowMs: 60_000 });
    assert.equal(await auth("alice", "wrong", session(true, "192.0.2.8")), undefined);
    assert.equal(await auth("alice@semail.test", "wrong", session(true, "192.0.2.9")), undefined);
    await assert.rejects(auth("ALICE@semail.test", alice.password, session(true, "192.0.2.10")), {
      responseCode: 454,
      enhancedCode: "4.7.0",
    });
    await assert.rejects(auth("alice", alice.password, session(true, "192.0.2.11")), { responseCode: 454 });
  });
});
