// Right after the handover the move closes the owner's IMAP sessions on this host's Dovecot
// (doveadm kick in the configuration Dovecot runs with): a real Dovecot (services/imap, with
// slapd for the login), alice holding a session open, kicked; nobody left to kick; and no
// Dovecot here at all. Needs root (Dovecot switches to the mail uid).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kickImapSessions } from "../../../services/move/kick-imap.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { until } from "../../../testkit/until.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { python, startImapFixture } from "../imap/fixture.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;

describe("semail mailbox move: the owner's IMAP sessions here", { skip: needsRoot }, () => {
  it("are closed by doveadm kick; none connected and no Dovecot here are said so", async (t) => {
    const fixture = await startImapFixture(t);
    const logins = () => fixture.log().split("Login: user=<alice>").length;
    const before = logins();
    // alice keeps a session open (NOOP every 200 ms, at most 15 s), as a mail program would.
    const held = python<{ error: string | null }>(
      fixture,
      `
import time
m = login("alice", "${ALICE}"); m.select("INBOX")
t0 = time.time(); error = None
while time.time() - t0 < 15:
    try:
        m.noop(); time.sleep(0.2)
    except Exception as e:
        error = str(e); break
print(json.dumps({"error": error}))
`,
    );
    await until(() => logins() > before, "alice's session");
    assert.equal(await kickImapSessions(fixture.stateDir, "alice"), "kicked");
    assert.match((await held).error ?? "still open", /shutting down|BYE|EOF|closed/i, "alice's session is closed");
    assert.equal(await kickImapSessions(fixture.stateDir, "alice"), "none connected");
    assert.equal(await kickImapSessions(await tempDir(t, "semail-no-imap-"), "alice"), "no Dovecot here");
  });
});
