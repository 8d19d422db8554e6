// When HostCommand runs its command again: a changed line or stdin, or a host no longer as
// the command left it (the check's hash at the last refresh differs from the one after create).
import assert from "node:assert/strict";
import { test } from "node:test";
import { hostCommandDiffs, type HostCommandState } from "../../../components/host-command/ops.ts";

const state: HostCommandState = {
  connection: { host: "192.0.2.25" },
  create: "install",
  check: "check",
  stdin: "a",
  expected: "h1",
  actual: "h1",
};
const inputs = { connection: state.connection, create: "install", check: "check", stdin: "a" };

test("the same lines on an unchanged host: no diff", () => {
  assert.deepEqual(hostCommandDiffs(state, inputs), []);
  assert.deepEqual(
    hostCommandDiffs(state, { ...inputs, connection: { host: "192.0.2.26" } }),
    [],
    "a new way to reach the host is no reason to run again",
  );
});

test("a changed command, stdin or check runs it again; so does a host changed by hand", () => {
  assert.deepEqual(hostCommandDiffs(state, { ...inputs, stdin: "b" }), ["stdin"]);
  assert.deepEqual(hostCommandDiffs(state, { ...inputs, create: "install --unit", delete: "remove" }), [
    "create",
    "delete",
  ]);
  assert.deepEqual(hostCommandDiffs({ ...state, actual: "h2" }, inputs), ["actual"]);
});
