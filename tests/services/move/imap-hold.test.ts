// The hold against a real Dovecot (services/imap, slapd for the login): while the move holds
// alice's mbox files, an IMAP APPEND into her INBOX waits on the dotlock (Dovecot's imap
// process is seen asleep in its dotlock loop, the APPEND unanswered, the INBOX as held) and
// lands once the hold ends. Needs root (Dovecot switches to the mail uid).
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { mailUid } from "../../../config/mail-uid.ts";
import { withSourceHeld } from "../../../services/move/hold-source.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { until } from "../../../testkit/until.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { python, startImapFixture } from "../imap/fixture.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;

/** Whether a Dovecot imap process running as `uid` sleeps in a timed wait (its dotlock loop), as tests/services/imap/concurrency.test.ts looks. */
async function imapProcessWaiting(uid: number): Promise<boolean> {
  for (const pid of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    if (!/^Name:\s+imap$/m.test(status) || !new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) continue;
    if (/nanosleep/.test(await readFile(`/proc/${pid}/wchan`, "utf8").catch(() => ""))) return true;
  }
  return false;
}

describe("semail mailbox move: the hold against Dovecot", { skip: needsRoot }, () => {
  it("makes an IMAP APPEND wait until the hold ends", async (t) => {
    const fixture = await startImapFixture(t);
    const root = path.join(fixture.inbound.mailRoot, "alice");
    const inbox = path.join(root, "INBOX");
    const before = await readFile(inbox);
    let answered = false;
    let appending: Promise<{ result: string }> | undefined;
    await withSourceHeld(root, "alice", 5000, async () => {
      appending = python<{ result: string }>(
        fixture,
        `
m = login("alice", "${ALICE}")
typ, data = m.append("INBOX", None, None, b"From: a@b\\r\\nSubject: appended while held\\r\\n\\r\\nhello\\r\\n")
print(json.dumps({"result": typ}))
`,
      );
      void appending.then(
        () => (answered = true),
        () => (answered = true),
      );
      await until(() => imapProcessWaiting(mailUid("alice")), "alice's imap process waiting on INBOX.lock", 30_000);
      assert.equal(answered, false, "the APPEND is not answered while held");
      assert.deepEqual(await readFile(inbox), before, "nothing appended while held");
    });
    assert.deepEqual(await appending, { result: "OK" });
    assert.match(await readFile(inbox, "utf8"), /Subject: appended while held/);
  });
});
