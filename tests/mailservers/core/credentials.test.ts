// A session's kept login: the password is there for the hand-off and nowhere else.
import assert from "node:assert/strict";
import { it } from "node:test";
import { inspect } from "node:util";
import { pino } from "pino";
import { SessionCredentials } from "../../../mailservers/core/credentials.ts";

it("gives the password to whoever asks for it, and never to JSON, inspect or a log line", () => {
  const credentials = new SessionCredentials("alice", "alice-Secret1");
  assert.equal(credentials.password, "alice-Secret1");
  const lines: string[] = [];
  pino({ level: "info" }, { write: (line: string) => void lines.push(line) }).info(
    { session: { user: "alice", credentials } },
    "x",
  );
  for (const text of [
    JSON.stringify(credentials),
    inspect(credentials),
    inspect({ credentials }, { showHidden: true, depth: 5 }),
    String(credentials),
    lines.join(""),
  ]) {
    assert.ok(text.length > 0 && !text.includes("alice-Secret1"), text);
  }
  assert.deepEqual(Object.keys(credentials), ["user"]);
});
