// The mailbox releases against a real mbox store and real files: a mailbox leaving this host
// is let go (deliveries to it wait, then fail MailboxHeldError, nothing written) with its note;
// one coming back is taken back and its note removed; notes outlive a restart, stale ones do not.
import assert from "node:assert/strict";
import { readFile, readdir, stat, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { parseUsersList, type UsersList } from "../../../config/users-list.ts";
import { MailboxHeldError } from "../../../mailservers/inbound/store/index.ts";
import { MOVES_DIR, releaseNotePath } from "../../../config/mailbox-release.ts";
import { createMailboxReleases } from "../../../mailservers/inbound/released-mailboxes.ts";
import { deliverSimple, makeMailRoot, makeStore } from "./store/fixture.ts";

const AT = Date.UTC(2026, 11, 8, 1, 2, 3);

function list(entries: ReadonlyArray<{ owner: string; host?: string; moving?: string }>): UsersList {
  const yaml = entries
    .map(
      (e) =>
        `  - owner: ${e.owner}\n    address: ${e.owner}@semail.test\n${e.host ? `    host: ${e.host}\n` : ""}${e.moving ? `    moving: ${e.moving}\n` : ""}`,
    )
    .join("");
  return parseUsersList(`mailboxes:\n${yaml}`, { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe("mailbox releases", () => {
  it("lets go of a mailbox moving away, notes it, keeps it while away, and takes it back", async (t) => {
    const mailRoot = await makeMailRoot(t);
    const store = makeStore(t, mailRoot, { lockTimeoutMs: 200 });
    const releases = createMailboxReleases({
      store,
      mailRoot,
      hostName: "main",
      logger: silentLogger(),
      clock: () => AT,
    });
    const note = releaseNotePath(mailRoot, "bob");
    await releases.follow(list([{ owner: "bob" }, { owner: "carol" }]));
    assert.equal(await exists(path.join(mailRoot, MOVES_DIR)), false, "nothing released, no folder");

    await releases.follow(list([{ owner: "bob", moving: "b" }, { owner: "carol" }]));
    assert.deepEqual(JSON.parse(await readFile(note, "utf8")), {
      owner: "bob",
      host: "main",
      to: "b",
      at: new Date(AT).toISOString(),
    });
    const inbox = path.join(mailRoot, "bob", "INBOX");
    await assert.rejects(deliverSimple(store, "bob", "held"), MailboxHeldError);
    assert.equal((await stat(inbox)).size, 0, "nothing written while released");
    await deliverSimple(store, "carol", "others go on");

    // Moved: still away, the note now names where it is.
    await releases.follow(list([{ owner: "bob", host: "b" }, { owner: "carol" }]));
    assert.equal(JSON.parse(await readFile(note, "utf8")).to, "b");
    await assert.rejects(deliverSimple(store, "bob", "held"), MailboxHeldError);

    await releases.follow(list([{ owner: "bob" }, { owner: "carol" }]));
    assert.equal(await exists(note), false);
    await deliverSimple(store, "bob", "home");
    assert.ok((await stat(inbox)).size > 0);
  });

  it("lets go at start of what is away, removes stale notes, and leaves alone a mailbox it never stored or that is coming here", async (t) => {
    const mailRoot = await makeMailRoot(t);
    const dir = path.join(mailRoot, MOVES_DIR);
    await mkdir(dir, { mode: 0o700 });
    // Left by an earlier run: carol is back here since.
    await writeFile(path.join(dir, "carol.released"), "{}");
    const store = makeStore(t, mailRoot, { lockTimeoutMs: 200 });
    const releases = createMailboxReleases({ store, mailRoot, hostName: "main", logger: silentLogger() });
    await releases.follow(
      list([
        { owner: "bob", host: "b" },
        { owner: "carol" },
        // No root here: never stored here, nothing to let go.
        { owner: "erin", host: "b" },
        // Coming here: refused by every host while it moves, not let go.
        { owner: "dave", host: "b", moving: "main" },
      ]),
    );
    assert.deepEqual((await readdir(dir)).sort(), ["bob.released"]);
    await assert.rejects(deliverSimple(store, "bob", "held"), MailboxHeldError);
    await deliverSimple(store, "dave", "not held");
  });

  it("names a note only inside its folder", () => {
    assert.equal(releaseNotePath("/srv/mail", "bob.smith"), "/srv/mail/.semail-moves/bob.smith.released");
    assert.throws(() => releaseNotePath("/srv/mail", "../etc"), /not a valid uid/);
    assert.throws(() => releaseNotePath("/srv/mail", "a/b"), /not a valid uid/);
  });
});
