// The proof checker's schedule: a bounded number of automatic tries, a visible state, a
// "Check now" that is rate-limited and starts a new round, and a claim made live only
// with its own token.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../lib/logger.ts";
import { judgeProof, type ProofVerdict } from "../../webform/domain-proof.ts";
import { proofRecordValue } from "../../config/proof-record.ts";
import { UsersListFile } from "../../webform/users-list-file.ts";
import { CHECK_NOW_INTERVAL_MS, ProofChecker } from "../../webform/proof-checker.ts";
import { Refusal } from "../../webform/refusal.ts";
import { LIST_OPTIONS } from "./helpers.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";

async function fixture(t: TestContext, verdict: () => ProofVerdict) {
  const dir = await tempDir(t, "semail-proof-");
  const file = join(dir, "users.yaml");
  await writeFile(
    file,
    `mailboxes:\n  - {owner: carol, address: carol@carol.example, pendingProof: ${TOKEN}}\n  - {owner: alice, address: alice@alice.semail.test}\n`,
  );
  const store = new UsersListFile(file, LIST_OPTIONS, silentLogger());
  let now = Date.UTC(2026, 10, 30, 12, 0);
  const lookups: string[] = [];
  const proven: string[] = [];
  const checker = new ProofChecker({
    read: () => store.read(),
    update: (change) => store.update(change),
    lookup: async (domain, token) => {
      lookups.push(`${domain} ${token}`);
      return verdict();
    },
    onProven: (owner) => proven.push(owner),
    logger: silentLogger(),
    clock: () => now,
    schedule: [0, 60_000, 120_000],
  });
  return { store, checker, lookups, proven, advance: (ms: number) => (now += ms), now: () => now };
}

test("automatic tries follow the schedule and stop after the last one; Check now starts a new round", async (t) => {
  const f = await fixture(t, () => ({ state: "absent" }));
  await f.checker.tick();
  assert.deepEqual(f.lookups, [`carol.example ${TOKEN}`], "the first try is at once");
  await f.checker.tick();
  assert.equal(f.lookups.length, 1, "nothing is due before the next step");
  let state = f.checker.state("carol", TOKEN);
  assert.deepEqual(
    { tries: state.tries, max: state.maxTries, next: state.nextCheckAt! - f.now(), verdict: state.verdict },
    { tries: 1, max: 3, next: 60_000, verdict: { state: "absent" } },
  );

  for (let i = 0; i < 10; i++) {
    f.advance(60_000);
    await f.checker.tick();
  }
  assert.equal(f.lookups.length, 3, "three tries in all, however long it waits");
  state = f.checker.state("carol", TOKEN);
  assert.equal(state.nextCheckAt, undefined, "the round is over");
  assert.equal(state.tries, 3);

  const now = await f.checker.checkNow("carol");
  assert.equal(f.lookups.length, 4);
  assert.equal(now.tries, 1, "a new round");
  await assert.rejects(
    f.checker.checkNow("carol"),
    (err: unknown) => err instanceof Refusal && err.status === 429 && /wait 10 s/.test(err.message),
  );
  f.advance(CHECK_NOW_INTERVAL_MS);
  await f.checker.checkNow("carol");
  assert.equal(f.lookups.length, 5);
  assert.deepEqual(f.proven, []);
  assert.equal((await f.store.read()).byOwner("carol")?.pendingProof, TOKEN, "still pending");
});

test("a proof found makes the claim live, once, and the apply is asked for", async (t) => {
  let verdict: ProofVerdict = { state: "unknown", detail: "ETIMEOUT" };
  const f = await fixture(t, () => verdict);
  await f.checker.tick();
  assert.deepEqual(f.checker.state("carol", TOKEN).verdict, { state: "unknown", detail: "ETIMEOUT" });
  verdict = { state: "proven" };
  f.advance(60_000);
  await f.checker.tick();
  const list = await f.store.read();
  assert.equal(list.byAddress("carol@carol.example")?.owner, "carol");
  assert.equal(list.pending.length, 0);
  assert.deepEqual(
    list.entries.map((m) => m.owner),
    ["carol", "alice"],
    "the rest of the list is kept",
  );
  assert.deepEqual(f.proven, ["carol"]);
  f.advance(120_000);
  await f.checker.tick();
  assert.equal(f.lookups.length, 2, "a live mailbox is not checked again");
  await assert.rejects(f.checker.checkNow("carol"), /not waiting for a proof/);
});

test("a proof cannot make a claim live on a domain another owner already has live", async (t) => {
  const f = await fixture(t, () => ({ state: "proven" }));
  await f.store.update((list) => [
    ...list.entries.map((m) => ({
      owner: m.owner,
      address: m.address,
      ...(m.pendingProof ? { pendingProof: m.pendingProof } : {}),
    })),
    { owner: "dave", address: "dave@carol.example" },
  ]);
  await f.checker.tick();
  const state = f.checker.state("carol", TOKEN);
  assert.match(state.refused ?? "", /carol\.example went live for another mailbox first/);
  assert.equal((await f.store.read()).byOwner("carol")?.pendingProof, TOKEN);
  assert.deepEqual(f.proven, []);
});

test("only this claim's token proves it", () => {
  assert.deepEqual(judgeProof([proofRecordValue(TOKEN)], TOKEN), { state: "proven" });
  assert.deepEqual(judgeProof(["v=spf1 -all", proofRecordValue("ffffffffffffffffffffffffffffffff")], TOKEN), {
    state: "mismatch",
    found: ["v=spf1 -all", "semail-proof=ffffffffffffffffffffffffffffffff"],
  });
  assert.deepEqual(judgeProof([], TOKEN), { state: "absent" });
  assert.deepEqual(judgeProof([`${proofRecordValue(TOKEN)}x`], TOKEN).state, "mismatch", "no prefix match");
});
