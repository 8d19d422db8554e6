// What the readers of the users' mbox files show for a message the inbound daemon stored:
// Python's mailbox over the file and Dovecot over IMAP (Roundcube shows what IMAP gives;
// mutt and neomutt were measured by hand, docs/reference.md, "Receiving"). The store writes mboxo, so
// every line shows as sent except one that began `From `, which shows as `>From `; an
// mboxrd store would show `>>From ` for a line sent as `>From `. A message an older store
// wrote in mboxrd stays readable beside the new ones, with its extra `>` as stored.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { sendMessage } from "../../helpers/smtp.ts";
import { python, startImapFixture } from "./fixture.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;

/** The test set, as latin1 text of the bytes sent: CRLF and one bare LF, 8-bit bytes, no final newline. */
const SENT_BODY =
  "L1 plain\r\nFrom the start\r\n>From one\r\n>>From two\r\nbare LF line\nutf8 \xc3\xa9 latin1 \xe9\r\nend From x";
/** What every reader shows for it (line ends aside): only the line that began `From ` differs. */
const SHOWN = [
  "L1 plain",
  ">From the start",
  ">From one",
  ">>From two",
  "bare LF line",
  "utf8 \xc3\xa9 latin1 \xe9",
  "end From x",
];

/** A message as an mboxrd store (SEMail before mboxo) wrote it: every `>*From ` line got one more `>`. */
const OLD_MBOXRD =
  "From a@example.org Mon Dec  7 18:00:00 2026\nSubject: old\nMessage-ID: <old@example.org>\n\n>From old\n>>From one\n>>>From two\n\n";
const OLD_SHOWN = [">From old", ">>From one", ">>>From two"];

/** The body (latin1) of each message, by subject: from the mbox file with Python's mailbox, and over IMAP. */
interface Seen {
  python: Record<string, string>;
  imap: Record<string, string>;
}

const lines = (body: string) => body.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");

test("every reader shows a stored message's body lines as sent, except `From ` lines (mboxo)", {
  skip: needsRoot,
  timeout: 180_000,
}, async (t) => {
  const fixture = await startImapFixture(t);
  const inbox = path.join(fixture.inbound.mailRoot, "alice", "INBOX");
  await appendFile(inbox, OLD_MBOXRD);
  const data = `From: a@example.org\r\nTo: alice@alice.semail.test\r\nSubject: readers\r\nMessage-ID: <readers@example.org>\r\n\r\n${SENT_BODY}`;
  const reply = await sendMessage(fixture.inbound.port, {
    from: "a@example.org",
    to: ["alice@alice.semail.test"],
    data,
  });
  assert.equal(reply.code, 250, reply.lines.join(" "));

  const seen = await python<Seen>(
    fixture,
    `
import mailbox
out = {"python": {}, "imap": {}}
box = mailbox.mbox(os.environ["INBOX"], create=False)
for key in box.keys():
    out["python"][box.get_message(key)["Subject"]] = box.get_bytes(key).split(b"\\n\\n", 1)[1].decode("latin1")
m = login("alice", "${ALICE}")
m.select("INBOX", readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
parts = [d for d in data if isinstance(d, tuple)]
for subject, text in zip(parts[0::2], parts[1::2]):
    out["imap"][subject[1].decode().split(":", 1)[1].strip()] = text[1].decode("latin1")
m.logout()
print(json.dumps(out))
`,
    { INBOX: inbox },
  );

  for (const reader of ["python", "imap"] as const) {
    assert.deepEqual(
      Object.keys(seen[reader]).sort(),
      ["old", "readers"],
      `${reader}: the old message and the new one, no more (no split)`,
    );
    assert.deepEqual(
      lines(seen[reader].readers!),
      SHOWN,
      `${reader} shows the new message as sent, a From line quoted`,
    );
    assert.deepEqual(lines(seen[reader].old!), OLD_SHOWN, `${reader} shows the old mboxrd message as stored`);
  }
});
