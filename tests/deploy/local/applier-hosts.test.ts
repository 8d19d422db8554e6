// Local mode with mailboxes on several SEMail hosts: its applier makes roots for its own host's
// mailboxes only (one moving away keeps its root until its entry names the new host), tells the
// daemons the whole list, and its zone, served by a real named, gives a domain whose mailboxes
// live on another host that host's MX name, flipping when the entry's host changes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { createLocalApplier, createLocalZone } from "../../../deploy/local/applier.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { startTestNamed } from "../../helpers/named.ts";

const run = promisify(execFile);
const DOMAIN = "semail.test";
const HOSTS = { b: { mx: "mx-b.semail.test", ip: "127.0.0.2" }, main: { mx: "mx-main.semail.test", ip: "127.0.0.3" } };

/** alice on main; bob with `placement` ("", "host: b", "moving: b"). */
const list = (placement: string) =>
  parseUsersList(
    [
      "mailboxes:",
      "  - {owner: alice, address: alice@alice.semail.test}",
      `  - {owner: bob, address: bob@bob.semail.test${placement ? `, ${placement}` : ""}}`,
      "",
    ].join("\n"),
    { managedDomain: DOMAIN, defaultSize: 16 * 1024 ** 2, minSize: 16 * 1024 ** 2 },
  );

/** A local host `hostName` (plain roots) whose zone is served by a real named; what it told the daemons. */
async function localHost(t: TestContext, hostName: string) {
  const dir = await tempDir(t, "semail-applier-hosts-");
  const named = await startTestNamed([]);
  t.after(() => named.stop());
  const notified: string[][] = [];
  const mailRoot = join(dir, "mail");
  const applier = createLocalApplier({
    mailRoot,
    hostName,
    fstab: join(dir, "fstab"),
    zone: createLocalZone({
      domain: DOMAIN,
      ipv4: "127.0.0.1",
      serialFile: join(dir, "serial"),
      hostName,
      hosts: HOSTS,
    }),
    publishZone: async (name, text) => named.reload(text === undefined ? undefined : [{ name, text }]),
    notifyDaemons: async (whole) => void notified.push(whole.mailboxes.map((m) => m.owner)),
  });
  const apply = (placement: string) =>
    applier.apply({ list: list(placement), logger: silentLogger(), signal: new AbortController().signal });
  const mx = async (name: string) =>
    (
      await run("dig", [
        "@127.0.0.1",
        "-p",
        String(named.port),
        "+norecurse",
        "+short",
        "+time=5",
        "+tries=2",
        name,
        "MX",
      ])
    ).stdout.trim();
  const root = (owner: string) => existsSync(join(mailRoot, owner, "INBOX"));
  return { apply, mx, root, notified };
}

test("the main host makes its own mailboxes' roots, and the zone sends bob's domain to his host", async (t) => {
  const main = await localHost(t, "main");
  await main.apply("moving: b");
  assert.equal(main.root("bob"), true, "a mailbox moving away keeps its root until the list names the new host");
  assert.equal(await main.mx("bob.semail.test"), "10 mx.semail.test.");

  await main.apply("host: b");
  assert.equal(main.root("alice"), true);
  assert.equal(await main.mx("bob.semail.test"), "10 mx-b.semail.test.");
  assert.equal(await main.mx("alice.semail.test"), "10 mx.semail.test.");
  // The daemons still read every mailbox: inbound hands bob's mail on to b.
  assert.deepEqual(main.notified.at(-1), ["alice", "bob"]);

  await main.apply("");
  assert.equal(await main.mx("bob.semail.test"), "10 mx.semail.test.", "back on main: the MX flips back");
});

test("host b makes b's mailboxes only; its zone names the main host's MX for the others", async (t) => {
  const b = await localHost(t, "b");
  await b.apply("host: b");
  assert.equal(b.root("bob"), true);
  assert.equal(b.root("alice"), false, "alice lives on main: no root here");
  assert.equal(await b.mx("bob.semail.test"), "10 mx.semail.test.");
  assert.equal(await b.mx("alice.semail.test"), "10 mx-main.semail.test.");
  assert.deepEqual(b.notified.at(-1), ["alice", "bob"]);
});
