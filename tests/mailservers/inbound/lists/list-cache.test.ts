// The lists cache: a failed read keeps the last good lists; reads never overlap.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MailingList } from "../../../../config/mailing-lists.ts";
import { silentLogger } from "../../../../lib/logger.ts";
import { ListCache } from "../../../../mailservers/inbound/lists/list-cache.ts";
import { until } from "../../../../testkit/until.ts";

const one = (address: string): MailingList => ({
  dn: `cn=${address}`,
  name: address,
  address,
  members: [],
  owners: [],
  rule: "members",
  moderators: [],
});

describe("ListCache", () => {
  it("is unknown until a read succeeds, keeps the last good lists through a failed read, and refreshes on its own", async (t) => {
    const answers: Array<readonly MailingList[] | Error> = [new Error("down"), [one("a@x.test")], new Error("down")];
    let reads = 0;
    const cache = new ListCache({
      load: async () => {
        const answer = answers[Math.min(reads++, answers.length - 1)]!;
        if (answer instanceof Error) throw answer;
        return answer;
      },
      refreshMs: 100,
      logger: silentLogger(),
    });
    t.after(() => cache.stop());
    await cache.start();
    assert.equal(cache.current(), undefined, "the first read failed");
    await until(() => reads >= 3, "two more reads by the timer", 10_000);
    assert.deepEqual(
      cache.current()?.map((l) => l.address),
      ["a@x.test"],
      "the failed third read kept the second's lists",
    );
  });

  it("shares one read among callers while it runs", async () => {
    let reads = 0;
    let finish!: () => void;
    const cache = new ListCache({
      load: () =>
        new Promise((resolve) => {
          reads++;
          finish = () => resolve([]);
        }),
      refreshMs: 60_000,
      logger: silentLogger(),
    });
    const a = cache.refresh();
    const b = cache.refresh();
    finish();
    await Promise.all([a, b]);
    assert.equal(reads, 1);
    await cache.stop();
  });
});
