// kill -9 of `semail inbound` in the middle of a 1,000-message load: after recovery every
// mbox parses, every message that got a 250 is there once and whole, and none is partial.
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { stringify } from "yaml";
import { silentLogger } from "../../../lib/logger.ts";
import { recoverMailRoot } from "../../../mailservers/inbound/store/index.ts";
import { USERS, provision, readMbox, spawnInbound, usersYaml } from "./fixture.ts";
import { runLoad } from "./load.ts";
import { until } from "../../../testkit/until.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

it("loses nothing that got a 250 and leaves no partial message when killed with SIGKILL under load", async (t) => {
  const dir = await tempDir(t, "semail-crash-");
  const mailRoot = path.join(dir, "mail");
  const usersFile = path.join(dir, "users.yaml");
  await writeFile(usersFile, usersYaml(USERS));
  await provision(mailRoot, USERS);
  const config = path.join(dir, "semail.yaml");
  await writeFile(
    config,
    stringify({
      hostname: "mx.semail.test",
      managedDomain: "semail.test",
      users: usersFile,
      log: { level: "info" },
      inbound: { listen: ["127.0.0.1:0"], mailRoot, minFreeSpace: "1MiB" },
    }),
  );
  const { child, port, output } = await spawnInbound(t, config);

  const owners = ["ada@semail.test", "souleymane@sow.semail.test", "me@external.example"];
  // Most messages go to one mailbox, every fifth to all three (a multi-file append to undo).
  const recipients = (n: number) => (n % 5 === 0 ? owners : [owners[n % 3]!]);
  let killedAt = 0;
  const load = runLoad({
    port,
    connections: 25,
    messagesPerConnection: 40,
    recipients,
    bodyBytes: 6000,
    onAccepted: () => {
      if (++killedAt === 350) child.kill("SIGKILL");
    },
  });
  const { accepted } = await load;
  await until(() => child.signalCode !== null || child.exitCode !== null, "the daemon to die");
  assert.equal(child.signalCode, "SIGKILL", `the daemon should have been killed mid-load, not finished: ${output()}`);
  assert.ok(accepted.size >= 350 && accepted.size < 1000, `accepted ${accepted.size}`);

  // What a restart does first: cut back half-done appends and remove stale dotlocks.
  const report = await recoverMailRoot(mailRoot, silentLogger());

  const seen = new Map<number, number>();
  for (const owner of ["ada", "sow", "ext"]) {
    const root = path.join(mailRoot, owner);
    const files = [
      path.join(root, "INBOX"),
      ...(await readdir(path.join(root, "mail"))).map((f) => path.join(root, "mail", f)),
    ];
    for (const file of files) {
      const messages = await readMbox(file);
      const inFile = new Set<number>();
      for (const m of messages) {
        const n = Number(/^load-(\d+)$/.exec(m.subject ?? "")?.[1]);
        assert.ok(Number.isInteger(n), `${file}: a message without a load subject: ${JSON.stringify(m.subject)}`);
        assert.match(
          m.body,
          new RegExp(`^BEGIN-${n}\\n[^]*\\n>?From here the body goes on\\n\\.\\.\\nEND-${n}\\n+$`),
          `${file}: load-${n} is partial`,
        );
        assert.ok(!inFile.has(n), `${file}: load-${n} twice`);
        inFile.add(n);
        if (file.endsWith("INBOX")) seen.set(n, (seen.get(n) ?? 0) + 1);
      }
    }
  }
  for (const n of accepted) {
    assert.equal(seen.get(n), recipients(n).length, `load-${n} got a 250 but is not in every recipient's INBOX`);
  }
  // Messages without a 250 may be there (the crash came between fsync and reply) but only whole, checked above.
  // Every dotlock the dead daemon held is gone (else deliveries would wait 5 minutes for
  // it to go stale), and so are the hidden files it links its locks from.
  const names = (await readdir(mailRoot, { recursive: true })).map(String).filter((f) => !f.startsWith(".tmp"));
  assert.deepEqual(
    names.filter((f) => f.endsWith(".lock") || /(^|\/)\.[^/]*\.lock\./.test(f)),
    [],
    "no lock left after recovery",
  );
  assert.deepEqual(report.unresolved, []);
  t.diagnostic(
    `${accepted.size} accepted; recovery cut back ${report.truncated.length} files and removed ${report.locksRemoved.length} locks`,
  );
});
