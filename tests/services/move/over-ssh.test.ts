// The move to a host reached by ssh (hosts.b.ssh): a real sshd of the test's own on loopback,
// the operator's ssh with a key and a known_hosts file (what ~/.ssh holds on a real host). The
// copy goes by rsync over it, the check hashes b's files there, b's list is read and written
// there, and a move that fails empties b's copy there. The daemon here is stood in for.
import assert from "node:assert/strict";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { moveMailbox, MoveError } from "../../../services/move/index.ts";
import { sshdMissing, startTestSshd } from "../../../testkit/rig/providers/sshd-fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { OWNER, releaseWhenMoving, twoHosts, usersYaml } from "./fixture.ts";

const logger = silentLogger();

describe("semail mailbox move over ssh", { skip: sshdMissing() }, () => {
  it("copies, checks and switches b over ssh; a failed move empties b's copy there", async (t) => {
    const sshd = await startTestSshd();
    t.after(() => sshd.stop());
    const keys = await tempDir(t, "semail-move-ssh-");
    const key = path.join(keys, "id");
    const known = path.join(keys, "known_hosts");
    await writeFile(key, sshd.privateKey, { mode: 0o600 });
    await writeFile(known, `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
    const sshCommand = ["ssh", "-i", key, "-o", `UserKnownHostsFile=${known}`, "-o", "StrictHostKeyChecking=yes"];
    const { main, b } = await twoHosts(t, { ssh: `${sshd.user}@127.0.0.1:${sshd.port}` });
    await writeFile(path.join(main.root(), "INBOX"), "From a@b Thu Jan  1 00:00:00 2026\nSubject: one\n\nHello.\n\n");
    await writeFile(path.join(main.root(), "mail", "it's a folder"), "From a@b ...\n\nBody\n\n");

    // First no daemon lets go: the lists go back, and b's copy is emptied over ssh.
    await assert.rejects(
      moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 300, removeSource: false }, { logger, sshCommand }),
      (error: Error) => error instanceof MoveError && /did not let go/.test(error.message),
    );
    assert.equal(await readFile(b.users, "utf8"), usersYaml());
    assert.equal((await stat(path.join(b.root(), "INBOX"))).size, 0);
    assert.deepEqual(await readdir(path.join(b.root(), "mail")), []);

    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    const result = await moveMailbox(
      main.settings,
      { id: OWNER, to: "b", waitMs: 10_000, removeSource: false },
      { logger, sshCommand },
    );
    assert.equal(result.files, 2);
    for (const file of ["INBOX", "mail/it's a folder"])
      assert.deepEqual(await readFile(path.join(b.root(), file)), await readFile(path.join(main.root(), file)));
    assert.equal(await readFile(b.users, "utf8"), usersYaml({ host: "b" }));
    assert.equal(await readFile(main.users, "utf8"), usersYaml({ host: "b" }));
  });
});
