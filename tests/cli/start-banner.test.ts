// The banner's first steps follow the users list: a restart, which finds the demo
// mailboxes made, does not ask to create them again, and the send line uses the
// addresses the list has.
import assert from "node:assert/strict";
import { test } from "node:test";
import { banner, firstMailStep, type BannerParts } from "../../cli/start-banner.ts";
import { parseSettings } from "../../config/settings.ts";
import { STANDARD_MAIL_CLIENT_PORTS } from "../../config/mail-clients.ts";

const USERS = ["alice", "bob"];

test("first mail, step 1: asks to create only the mailboxes not made yet", () => {
  assert.equal(
    firstMailStep(USERS, []).step,
    '1. Open the web form, log in as alice and create mailbox "alice" on the subdomain "alice"; do the same as bob.',
  );
  assert.equal(
    firstMailStep(USERS, [{ owner: "alice", address: "alice@alice.semail.test" }]).step,
    '1. Open the web form, log in as bob and create mailbox "bob" on the subdomain "bob" (alice\'s, alice@alice.semail.test, is made already).',
  );
  const both = firstMailStep(USERS, [
    { owner: "bob", address: "bob@builder.semail.test" },
    { owner: "alice", address: "alice@alice.semail.test" },
  ]);
  assert.equal(
    both.step,
    "1. The mailboxes alice@alice.semail.test and bob@builder.semail.test are made already (the web form shows them).",
  );
  assert.deepEqual(
    both.addresses,
    ["alice@alice.semail.test", "bob@builder.semail.test"],
    "the addresses the list has, not the suggested ones",
  );
  assert.match(
    firstMailStep(USERS, undefined).step,
    /do the same as bob \(if not made yet\)\.$/,
    "without the list it says so",
  );
});

test("the banner of a restart does not ask to create the mailboxes it found, and sends between their addresses", () => {
  const settings = parseSettings(
    { outbound: { listen: ["127.0.0.1:2587"] }, web: { listen: "127.0.0.1:8080" } },
    "test",
  );
  const parts: BannerParts = {
    passwords: { alice: "a-pass", bob: "b-pass", admin: "c-pass" },
    dataDir: "/tmp/semail-data",
    storage: "plain directories",
    containers: "Users' containers: none (test).",
    inbound: { spec: "127.0.0.1:2525", host: "127.0.0.1", port: 2525, implicitTls: false },
    imap: undefined,
    webmail: undefined,
    mailClients: { host: "127.0.0.1", ports: STANDARD_MAIL_CLIENT_PORTS },
    mailboxes: [
      { owner: "alice", address: "alice@alice.semail.test" },
      { owner: "bob", address: "bob@bob.semail.test" },
    ],
  };
  const text = banner(settings, parts);
  assert.doesNotMatch(text, /create mailbox/);
  assert.match(text, /1\. The mailboxes alice@alice\.semail\.test and bob@bob\.semail\.test are made already/);
  assert.match(text, /--from alice@alice\.semail\.test --to bob@bob\.semail\.test/);
});
