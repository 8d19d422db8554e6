// Which daemon wrote a line, as the summary reads it: named semail-<daemon> in a container,
// and in local mode one logger (semail-start) whose daemon children say `service`; lines that
// are not traffic, or not JSON, are skipped. And the refusal reasons the summary groups by,
// from the daemons' own reply texts.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { createLogger } from "../../../../lib/logger.ts";
import { refusalReason } from "../../../../services/report/traffic/refusal-reason.ts";
import { trafficEvent } from "../../../../services/report/traffic/traffic-event.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";

test("the daemon comes from the logger's name, or in local mode from its child's service", async (t) => {
  const dir = await tempDir(t, "semail-traffic-event-");
  const file = path.join(dir, "semail.log");
  const destination = pino.destination({ dest: file, sync: true });
  createLogger("info", "semail-inbound", destination).info(
    { event: "accepted", from: "a@b.example" },
    "message accepted",
  );
  const local = createLogger("info", "semail-start", destination);
  local
    .child({ service: "outbound" })
    .child({ session: "s1" })
    .info({ event: "accepted", user: "ada" }, "message accepted");
  local.info({ remote: "127.0.0.1" }, "connect");
  destination.write('not json, with "event": in it\n');
  const lines = (await readFile(file, "utf8")).trimEnd().split("\n");
  const events = lines.map(trafficEvent);
  assert.deepEqual(
    events.map((e) => e && [e.kind, e.daemon, e.from, e.user]),
    [["accepted", "inbound", "a@b.example", ""], ["accepted", "outbound", "", "ada"], undefined, undefined],
  );
  assert.ok(Math.abs(events[0]!.time - Date.now()) < 60_000, "pino's own time");
});

test("refusals group by what they mean, not by the addresses in them", () => {
  const cases: Array<[string, string]> = [
    ["5.1.1 No such mailbox here", "unknown user"],
    ["5.7.1 Relaying denied: this server does not accept mail for @elsewhere.example", "relay denied"],
    [
      "5.7.1 example.org publishes DMARC p=reject, and this message is not authenticated for it (SPF and DKIM do not pass aligned with the From domain)",
      "DMARC reject",
    ],
    ["5.7.1 Message refused as spam (score 15.20): Gtube pattern", "spam"],
    ["5.3.4 Message too big: the limit is 262144 bytes", "too big"],
    ["5.2.2 <ada@semail.test>: message too big for this mailbox now (SIZE=9000)", "too big"],
    ["4.2.2 Mailbox full, try again later", "mailbox full"],
    ["4.7.0 Too many connections from your address, try again later", "rate limit"],
    ["5.7.8 Authentication credentials invalid", "auth failure"],
    ["5.7.0 Authentication required", "auth required"],
    ["451 4.7.1 Try again later", "Try again later"],
    ["local error: connect ECONNREFUSED 127.0.0.1:25", "local error: connect ECONNREFUSED N.N.N.N:N"],
    ["550 5.7.1 <x@reject.t.test> refused by policy", "<> refused by policy"],
  ];
  for (const [reply, reason] of cases) assert.equal(refusalReason(reply), reason, reply);
});
