// Making a mailbox again after deleting one, through the form and local mode's real applier
// (plain roots; the image files are tested in tests/deploy/local/applier.test.ts): the
// form asks what to do with the kept mail and has no default; "bring back" brings it into
// the new address, "start empty" sets it aside (renamed, not deleted); a create without an
// answer is refused and changes nothing.
import assert from "node:assert/strict";
import { appendFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { loadUsersList } from "../../config/users-file.ts";
import { createLocalApplier, createLocalZone } from "../../deploy/local/applier.ts";
import { settleKeptMail } from "../../webform/kept-mail.ts";
import { Refusal } from "../../webform/refusal.ts";
import { testDirectoryForFile } from "../helpers/slapd.ts";
import { LIST_OPTIONS, loggedInClient, startForm } from "./helpers.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const skip = needsRoot;
const ldap = testDirectoryForFile();

/** The form with local mode's applier on plain roots in a temp directory. */
async function formWithLocalApplier(t: TestContext) {
  const dir = await tempDir(t, "semail-kept-");
  const mailRoot = join(dir, "mail");
  const applier = createLocalApplier({
    mailRoot,
    fstab: join(dir, "fstab"),
    zone: createLocalZone({ domain: "semail.test", ipv4: "127.0.0.1", serialFile: join(dir, "serial") }),
    publishZone: async () => undefined,
    notifyDaemons: async () => undefined,
  });
  const form = await startForm(t, {
    directory: ldap.directory,
    applier,
    web: { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } },
  });
  return { form, inbox: join(mailRoot, "alice", "INBOX"), aside: join(mailRoot, ".semail-set-aside") };
}

const fieldset = (page: string) => /<fieldset id="kept-mail">[\s\S]*?<\/fieldset>/.exec(page)?.[0] ?? "";
const alert = (page: string) => /role="alert">([^<]*)</.exec(page)?.[1] ?? "";

test("making a mailbox again: the form asks about the kept mail; bring it back, or start empty with it set aside", {
  skip,
}, async (t) => {
  const { form, inbox, aside } = await formWithLocalApplier(t);
  const alice = await loggedInClient(form, "alice", "alice-Secret1");
  assert.equal(fieldset((await alice.get("/")).text), "", "nothing kept yet: no question");
  assert.equal(
    (await alice.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "wonderland" })).status,
    303,
  );
  await form.runner.idle();
  await appendFile(inbox, "From a@example.org Thu Jan  1 00:00:00 2026\nSubject: kept\n\nfirst life\n");
  const deleteIt = async () => {
    await alice.get("/mailbox/delete");
    assert.equal((await alice.post("/mailbox/delete")).status, 303);
    await form.runner.idle();
  };
  await deleteIt();

  // The create page asks, naming the old address; neither answer is chosen for her.
  const question = fieldset((await alice.get("/")).text);
  assert.match(
    question,
    /Your earlier mailbox, <span class="address">alice@wonderland\.semail\.test<\/span>, was deleted; its mail is kept/,
  );
  assert.match(question, /value="restore" required >/);
  assert.doesNotMatch(question, /checked/);

  // No answer: refused, nothing listed, the question asked again.
  const unanswered = await alice.post("/mailbox", {
    localPart: "alice",
    kind: "subdomain",
    subdomain: "looking-glass",
  });
  assert.equal(unanswered.status, 400);
  assert.match(alert(unanswered.text), /The mail of your earlier mailbox is kept: choose/);
  assert.notEqual(fieldset(unanswered.text), "");
  assert.equal((await loadUsersList(form.usersFile, LIST_OPTIONS)).mailboxes.length, 0);

  // Bring it back, into another address: she asked for it.
  assert.equal(
    (
      await alice.post("/mailbox", {
        localPart: "alice",
        kind: "subdomain",
        subdomain: "looking-glass",
        keptMail: "restore",
      })
    ).status,
    303,
  );
  await form.runner.idle();
  assert.match(await readFile(inbox, "utf8"), /first life/, "the kept mail is back");

  // Deleted again, then made again empty: the mail is set aside, not deleted.
  await deleteIt();
  assert.match(fieldset((await alice.get("/")).text), /alice@looking-glass\.semail\.test/);
  assert.equal(
    (
      await alice.post("/mailbox", {
        localPart: "alice",
        kind: "subdomain",
        subdomain: "looking-glass",
        keptMail: "set-aside",
      })
    ).status,
    303,
  );
  await form.runner.idle();
  assert.equal(await readFile(inbox, "utf8"), "", "the new mailbox starts empty");
  const setAside = (await readdir(aside)).filter((name) => !name.endsWith(".address"));
  assert.equal(setAside.length, 1);
  assert.match(
    await readFile(join(aside, setAside[0]!, "INBOX"), "utf8"),
    /first life/,
    "the set-aside mail is all there",
  );
  assert.equal(fieldset((await alice.get("/")).text), "", "her live mailbox's page asks nothing");
});

test("a host that cannot say what is kept refuses the create (503, with the reason) and decides nothing", async () => {
  const decided: string[] = [];
  const unreachable = {
    keptMail: async () => {
      throw new Error("ssh: connect to host 192.0.2.25 port 22: Connection timed out");
    },
    decideKeptMail: async (owner: string) => {
      decided.push(owner);
    },
  };
  await assert.rejects(settleKeptMail(unreachable, "alice", "alice@x.semail.test", "restore"), (err: unknown) => {
    assert.ok(err instanceof Refusal);
    assert.equal(err.status, 503);
    assert.match(err.message, /could not be checked \(ssh: connect to host .* timed out\); nothing was changed/);
    return true;
  });
  assert.deepEqual(decided, []);
});
