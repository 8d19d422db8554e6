// The SMTP parser on the lines a real outbound daemon writes for a wrong password, for AUTH
// refused after too many failures, and for the per-address connection limit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../../lib/logger.ts";
import { parseSmtpLine } from "../../../../services/bans/parsers/smtp-log.ts";
import { SmtpClient } from "../../../helpers/smtp.ts";
import { daemonSettings, plain, startDaemon } from "../../../mailservers/outbound/daemon-fixture.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";
import { capturedLines } from "../log-capture.ts";

const NOBODY = {
  authenticate: async () => ({ ok: false as const }),
  isAdmin: async () => false,
  close: async () => {},
};

test("a daemon's failed AUTH, AUTH limit and connection limit each name the client", async (t) => {
  const log = capturedLines();
  const settings = await daemonSettings(await tempDir(t, "semail-bans-smtp-"), { top: { log: { level: "info" } } });
  const daemon = await startDaemon(t, settings, {
    directory: NOBODY,
    logger: createLogger("info", "semail-outbound", log),
    limits: { closeTimeoutMs: 200, maxConnectionsPerIp: 1 },
  });
  const client = await SmtpClient.connect(daemon.port);
  t.after(() => client.close());
  await client.command("EHLO client.test");
  const codes = new Set<number>();
  // The authenticator allows 20 failures per address (10 per account) in its window, then answers 454.
  for (let i = 0; i < 21; i++) codes.add((await client.command(`AUTH PLAIN ${plain(`user${i}`, "wrong")}`)).code);
  assert.deepEqual([...codes], [535, 454]);
  const second = await SmtpClient.connect(daemon.port, { greeting: true });
  t.after(() => second.close());
  assert.equal(second.greeting?.code, 421, "one connection per address: the second is refused");

  const failures = log.lines.map(parseSmtpLine).filter((f) => f !== undefined);
  const count = (reason: string) => failures.filter((f) => f.reason === reason).length;
  assert.deepEqual(
    { failed: count("smtp auth failed"), limit: count("smtp auth limit"), connections: count("smtp connection limit") },
    { failed: 20, limit: 1, connections: 1 },
  );
  assert.ok(failures.every((f) => f.address === "127.0.0.1" && f.count === 1));
  assert.ok(
    log.lines.some((line) => line.includes('"msg":"connect"')),
    "the daemon logged other lines too, which are no failures",
  );
});
