// Local mode's memory of the last applied users list (deploy/local/track-applied.ts): a list with
// the entries the last apply started from is covered, whatever its file's layout, from the
// start of that apply; another list is not, nor anything after a failed apply.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseUsersList, serializeUsersList, type UsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import type { Applier } from "../../../config/applier.ts";
import { trackApplied } from "../../../deploy/local/track-applied.ts";

const OPTIONS = { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 << 20 };
const parse = (yaml: string) => parseUsersList(yaml, OPTIONS);
const context = (list: UsersList) => ({ list, logger: silentLogger(), signal: new AbortController().signal });

test("covers the list the last apply started from, in any layout, and nothing after a failed apply", async () => {
  const aliceBlock = parse("mailboxes:\n  - owner: alice\n    address: alice@alice.semail.test\n    size: 256MiB\n");
  const aliceFlow = parse(
    "# by hand\nmailboxes: [{address: alice@alice.semail.test, size: 268435456, owner: alice}]\n",
  );
  const aliceBigger = parse("mailboxes: [{owner: alice, address: alice@alice.semail.test, size: 512MiB}]\n");
  let fail = false;
  let during: boolean | undefined;
  const tracked = trackApplied({
    name: "test",
    async apply() {
      during = tracked.covers(aliceFlow);
      if (fail) throw new Error("the apply failed");
    },
  });
  assert.equal(tracked.applier.name, "test");
  assert.equal(tracked.covers(aliceBlock), false, "nothing applied yet");

  await tracked.applier.apply(context(aliceBlock));
  assert.equal(
    during,
    true,
    "covered from the start of the apply: the form's own write fires the watcher while it runs",
  );
  assert.equal(tracked.covers(aliceBlock), true);
  assert.equal(tracked.covers(aliceFlow), true, "the same entries in another layout");
  assert.equal(tracked.covers(aliceBigger), false, "another size is another list");
  assert.equal(tracked.covers(parse("mailboxes: []\n")), false);
  assert.equal(
    tracked.knows(serializeUsersList(aliceBlock.entries)),
    true,
    "the text the form writes for it needs no parse",
  );
  assert.equal(
    tracked.knows("# by hand\nmailboxes: [{address: alice@alice.semail.test, size: 268435456, owner: alice}]\n"),
    false,
    "a hand edit is parsed",
  );

  fail = true;
  await assert.rejects(tracked.applier.apply(context(aliceBigger)), /the apply failed/);
  assert.equal(tracked.covers(aliceBigger), false, "a failed apply covers nothing");
  assert.equal(tracked.covers(aliceBlock), false, "nor what an earlier apply started from");
  assert.equal(tracked.knows(serializeUsersList(aliceBlock.entries)), false);
});

test("what else the applier answers passes through: the form asks it about a deleted mailbox's kept mail", async () => {
  const decided: string[] = [];
  const tracked = trackApplied({
    name: "test",
    async apply() {},
    keptMail: async (owner) => (owner === "alice" ? { address: "alice@alice.semail.test", inUse: false } : undefined),
    decideKeptMail: async (owner, address, choice) => void decided.push(`${owner} ${address} ${choice}`),
  });
  assert.deepEqual(await tracked.applier.keptMail?.("alice"), { address: "alice@alice.semail.test", inUse: false });
  await tracked.applier.decideKeptMail?.("alice", "alice@new.semail.test", "set-aside");
  assert.deepEqual(decided, ["alice alice@new.semail.test set-aside"]);
});

test("an applier's methods pass through even from a class instance: the SSH line and the webmail", async () => {
  class Deployed implements Applier {
    readonly name = "deployed";
    readonly #host = "vm.example";
    async apply() {}
    async sshCommand(owner: string) {
      return `ssh -J semail-jump@${this.#host} ${owner}@10.0.0.2`;
    }
    async webmailUrl() {
      return `https://webmail.${this.#host}/`;
    }
  }
  const { applier } = trackApplied(new Deployed());
  assert.equal(await applier.sshCommand?.("alice"), "ssh -J semail-jump@vm.example alice@10.0.0.2");
  assert.equal(await applier.webmailUrl?.(), "https://webmail.vm.example/");
  assert.equal(
    trackApplied({ name: "bare", async apply() {} }).applier.sshCommand,
    undefined,
    "none where the applier has none",
  );
});
