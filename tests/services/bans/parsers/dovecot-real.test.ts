// The Dovecot parser on the lines a real Dovecot (services/imap, as local mode runs it) writes
// when IMAP logins fail: one line per connection, with its attempts and the client's address.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDovecotLine } from "../../../../services/bans/parsers/dovecot-log.ts";
import { needsRoot } from "../../../../testkit/needs-root.ts";
import { until } from "../../../../testkit/until.ts";
import { python, startImapFixture } from "../../imap/fixture.ts";

test("two connections from two addresses failing LOGIN give one failure each, naming the address", {
  skip: needsRoot,
}, async (t) => {
  const fixture = await startImapFixture(t);
  const replies = await python<Array<string | null>>(
    fixture,
    `print(json.dumps([refused("alice", "wrong"), refused("nobody", "wrong")]))`,
  );
  assert.ok(
    replies.every((r) => r !== null && /AUTHENTICATIONFAILED|failed/i.test(r)),
    JSON.stringify(replies),
  );
  const failures = () =>
    fixture
      .log()
      .split("\n")
      .map(parseDovecotLine)
      .filter((f) => f !== undefined);
  await until(
    () => failures().length === 2,
    () => `two failures in Dovecot's log:\n${fixture.log()}`,
    15_000,
  );
  const addresses = failures().map((f) => f.address);
  assert.equal(new Set(addresses).size, 2, "each connection came from its own loopback address");
  assert.ok(addresses.every((a) => a.startsWith("127.1.")));
  assert.ok(failures().every((f) => f.count === 1 && f.reason === "dovecot auth failed"));
});
