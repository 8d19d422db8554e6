// Local mode's zone: a new serial, and a named reload, only when the records change.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parseUsersList } from "../../../config/users-list.ts";
import { createLocalZone } from "../../../deploy/local/applier.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const options = { managedDomain: "semail.test", defaultSize: 64 * 1024 ** 2, minSize: 32 * 1024 ** 2 };
const list = (text: string) => parseUsersList(text, options);
const serialOf = (zone: string) => Number(/(\d+) ; serial/.exec(zone)?.[1]);

test("renders once per change of records, with a serial that only grows, also across restarts", async (t) => {
  const dir = await tempDir(t, "semail-zone-");
  const settings = { domain: "semail.test", ipv4: "127.0.0.1", ipv6: "::1", serialFile: join(dir, "serial") };
  const now = new Date("2026-11-24T00:00:00Z");
  const zone = createLocalZone(settings);
  const alice = list("mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n");
  const first = await zone.render(alice, now);
  assert.ok(first?.includes("alice 3600 IN MX 10 mx.semail.test."));
  assert.equal(await zone.render(alice, now), undefined, "same records: nothing to publish");
  const both = await zone.render(
    list(
      "mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n  - {owner: bob, address: bob@bob.semail.test}\n",
    ),
    now,
  );
  assert.ok(both?.includes("bob 3600 IN MX 10 mx.semail.test."));
  assert.equal(serialOf(both!), serialOf(first!) + 1);
  // A restarted local mode renders again, above the serial it kept.
  const again = await createLocalZone(settings).render(alice, now);
  assert.equal(serialOf(again!), serialOf(both!) + 1);
  assert.equal(Number((await readFile(settings.serialFile, "utf8")).trim()), serialOf(again!));
});

test("the SRV records announce the ports local mode listens on", async (t) => {
  const dir = await tempDir(t, "semail-zone-");
  const mailClientPorts = { imap: 1143, imaps: 1993, pop3s: 1995, submission: 0, submissions: 2465 };
  const zone = createLocalZone({
    domain: "semail.test",
    ipv4: "127.0.0.1",
    serialFile: join(dir, "serial"),
    mailClientPorts,
  });
  const text = (await zone.render(list("mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n")))!;
  assert.ok(text.includes("_imaps._tcp.alice 3600 IN SRV 0 1 1993 mx.semail.test."), text);
  assert.ok(text.includes("_submissions._tcp 3600 IN SRV 0 1 2465 mx.semail.test."), text);
  assert.ok(
    text.includes("_submission._tcp.alice 3600 IN SRV 0 0 0 ."),
    "a service local mode does not run is not offered",
  );
  assert.ok(text.includes("autoconfig 3600 IN A 127.0.0.1"));
});
