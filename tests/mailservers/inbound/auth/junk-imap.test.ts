// The Junk folder the store delivers into (a DMARC p=quarantine failure, or spam) is the one
// the real Dovecot lists as \Junk and opens, beside INBOX.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { TEST_USERS } from "../../../helpers/slapd.ts";
import { python, startImapFixture } from "../../../services/imap/fixture.ts";
import { needsRoot } from "../../../../testkit/needs-root.ts";
import { makeEnvelope } from "../store/fixture.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;

test("a message delivered into Junk is listed as \\Junk and read over IMAP", {
  skip: needsRoot,
  timeout: 180_000,
}, async (t) => {
  const fixture = await startImapFixture(t);
  const message =
    "From: x@quarantine.test\r\nTo: alice@alice.semail.test\r\nSubject: quarantined\r\n\r\nMaybe spam.\r\n";
  await fixture.inbound.daemon.store.deliver(
    makeEnvelope("x@quarantine.test", ["alice@alice.semail.test"]),
    [{ owner: "alice", recipient: "alice@alice.semail.test", quota: 1 << 30 }],
    Readable.from([Buffer.from(message)]),
    { junk: true },
  );
  const result = await python<{ junk: string[]; inbox: number; count: number; subject: string; body: string }>(
    fixture,
    `
m = login("alice", "${ALICE}")
typ, lst = m.list()
junk = [l.decode() for l in lst if l.decode().endswith(' Junk') or l.decode().endswith(' "Junk"')]
typ, inbox = m.select("INBOX", readonly=True)
typ, count = m.select("Junk", readonly=True)
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
parts = [d[1].decode() for d in data if isinstance(d, tuple)]
m.logout()
print(json.dumps({"junk": junk, "inbox": int(inbox[0]), "count": int(count[0]), "subject": parts[0].strip(), "body": parts[1]}))
`,
  );
  assert.equal(result.junk.length, 1, JSON.stringify(result.junk));
  assert.match(result.junk[0]!, /\\Junk/);
  assert.equal(result.inbox, 0, "not in INBOX");
  assert.equal(result.count, 1);
  assert.equal(result.subject, "Subject: quarantined");
  assert.equal(result.body, "Maybe spam.\r\n");
});
