// /status.json?follow: what the status script swaps into the mailbox page (webform/mailbox-state.ts):
// the owner's own part that changes by itself, with the digest the page carries and
// whether it still waits for something; nothing without a session, a mailbox or ?follow.
import assert from "node:assert/strict";
import { test } from "node:test";
import { testDirectoryForFile } from "../helpers/slapd.ts";
import { Client, fakeApplier, loggedInClient, startForm } from "./helpers.ts";

const ldap = testDirectoryForFile();

interface Follow {
  view: string;
  html: string;
  waiting: boolean;
  live: boolean;
}
const follow = async (client: Client) =>
  (JSON.parse((await client.get("/status.json?follow")).text) as { follow?: Follow }).follow;

test("/status.json?follow answers the owner's changing part as the page has it, and says when it changed and whether it still waits", async (t) => {
  let line: string | undefined;
  const applier = Object.assign(fakeApplier(), { sshCommand: async () => line });
  const form = await startForm(t, { directory: ldap.directory, applier });
  const anonymous = await new Client(form.url).get("/status.json?follow");
  assert.equal(anonymous.status, 401);
  assert.doesNotMatch(anonymous.text, /html/);

  const alice = await loggedInClient(form, "alice", "alice-Secret1");
  assert.equal(await follow(alice), undefined, "no mailbox: the create form follows nothing");
  await form.store.update(() => [{ owner: "alice", address: "alice@wonderland.semail.test" }]);
  const page = (await alice.get("/")).text;
  const view = /id="mailbox-follows" data-view="([^"]+)" data-waiting="true" data-live="true"/.exec(page)?.[1];
  assert.ok(view, "the page carries the part's digest, and waits for the SSH line");
  const before = await follow(alice);
  assert.equal(before?.view, view, "the same digest as the page: nothing to swap");
  assert.equal(before?.waiting, true);
  assert.match(before?.html ?? "", /shown here once the system has made the container/);
  assert.ok(page.includes(before!.html), "the part is the page's own");

  // The container is made: the part changes, and waits no more.
  line = "ssh -J semail-jump@203.0.113.10 alice@172.30.0.5";
  const after = await follow(alice);
  assert.notEqual(after?.view, view);
  assert.equal(after?.waiting, false);
  assert.match(after?.html ?? "", /ssh -J semail-jump@203\.0\.113\.10 alice@172\.30\.0\.5/);
  assert.equal("follow" in JSON.parse((await alice.get("/status.json")).text), false, "only when asked");

  // Bob, logged in, gets his own (none): never alice's.
  const bob = await loggedInClient(form, "bob", "bob-Secret2");
  assert.equal(await follow(bob), undefined);
});
