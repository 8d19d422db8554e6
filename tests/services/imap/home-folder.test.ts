// The owner's home lives on their mail filesystem beside INBOX and mail/ (USER_HOME_PATH,
// made by the user image): Dovecot must not offer it, nor anything in it, as a folder. With
// a home holding what a user's container leaves there (dotfiles, neomutt's `sent` mbox,
// ~/.semail), alice's LIST names only INBOX and the special folders, and a name that reaches
// out of mail/ into the home does not open.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { USER_HOME_PATH, USER_MAIL_PATH } from "../../../config/stack/user-container.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { handToMailUids, python, startImapFixture } from "./fixture.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;

test("the home beside INBOX and mail/ is no IMAP folder", { skip: needsRoot, timeout: 120_000 }, async (t) => {
  const fixture = await startImapFixture(t);
  const home = path.join(fixture.inbound.mailRoot, "alice", path.relative(USER_MAIL_PATH, USER_HOME_PATH));
  await mkdir(path.join(home, ".semail"), { recursive: true });
  await writeFile(path.join(home, ".bashrc"), "# bash\n");
  await writeFile(path.join(home, ".semail", "packages"), "tmux\n");
  await writeFile(
    path.join(home, "sent"),
    "From alice@alice.semail.test Mon Nov 30 10:00:00 2026\nSubject: a sent copy\n\nhi\n\n",
  );
  await handToMailUids(fixture.inbound.mailRoot, ["alice"]);

  const result = await python<{ list: string[]; outside: Record<string, string> }>(
    fixture,
    `
m = login("alice", "${ALICE}")
typ, lst = m.list()
names = sorted(re.match(rb'\\(.*?\\) "(?:/|NIL)" (.*)$', l).group(1).decode().strip('"') for l in lst)
outside = {}
for name in ["home", "home/sent", "../home/sent", "~/home/sent", "/mail/home/sent"]:
    try:
        typ, data = m.select('"%s"' % name, readonly=True)
    except imaplib.IMAP4.error as e:
        typ, data = "error", [str(e).encode()]
    outside[name] = typ
m.logout()
print(json.dumps({"list": names, "outside": outside}))
`,
  );
  assert.deepEqual(
    result.list,
    ["Drafts", "INBOX", "Junk", "Sent", "Trash"],
    "only INBOX and the special folders: nothing of the home",
  );
  for (const [name, answer] of Object.entries(result.outside))
    assert.notEqual(answer, "OK", `SELECT ${name} opens nothing in the home`);
});
