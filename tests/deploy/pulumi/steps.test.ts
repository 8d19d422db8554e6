// The engine's events as steps and lines: what `semail deploy` prints and drift lists.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { errorOfEvent, isChange, stepLine, stepOfEvent } from "../../../deploy/pulumi/steps.ts";
import { summary } from "../../../cli/deploy.ts";

const URN = "urn:pulumi:prod::semail::semail:infra:Mailbox$docker:index/container:Container::mailbox-alice-container";

function pre(op: string, extra: Record<string, unknown> = {}): EngineEvent {
  return {
    sequence: 1,
    timestamp: 0,
    resourcePreEvent: { metadata: { op, urn: URN, type: "docker:index/container:Container", provider: "", ...extra } },
  } as unknown as EngineEvent;
}

test("a planned step names the resource, the operation and what differs", () => {
  const step = stepOfEvent(pre("replace", { diffs: ["image"], keys: ["envs", "image"] }), true)!;
  assert.deepEqual(step, {
    op: "replace",
    type: "docker:index/container:Container",
    name: "mailbox-alice-container",
    properties: ["envs", "image"],
  });
  assert.equal(stepLine(step), "+- replace docker:index/container:Container  mailbox-alice-container  (envs, image)");
  assert.equal(stepOfEvent(pre("replace"), false), undefined, "a done step comes from resOutputs, not resourcePre");
});

test("what counts as a change: not same, read or refresh, and a replacement once", () => {
  const ops = [
    "same",
    "read",
    "refresh",
    "create",
    "update",
    "delete",
    "replace",
    "create-replacement",
    "delete-replaced",
  ];
  const changes = ops
    .map((op) => stepOfEvent(pre(op), true)!)
    .filter(isChange)
    .map((s) => s.op);
  assert.deepEqual(changes, ["create", "update", "delete", "replace"]);
  assert.equal(
    summary(ops.map((op) => stepOfEvent(pre(op), true)!).filter(isChange), false),
    "1 to create, 1 to update, 1 to delete, 1 to replace",
  );
  assert.equal(summary([stepOfEvent(pre("create"), true)!, stepOfEvent(pre("create"), true)!], true), "2 created");
  assert.equal(summary([], true), "no changes");
});

test("a resource's error comes from the engine's diagnostics, the stack's own are skipped", () => {
  const diag = (severity: string, urn?: string) =>
    ({
      sequence: 1,
      timestamp: 0,
      diagnosticEvent: { message: "  exit 1: no space  \n", color: "never", severity, ...(urn ? { urn } : {}) },
    }) as unknown as EngineEvent;
  assert.deepEqual(errorOfEvent(diag("error", URN)), { name: "mailbox-alice-container", message: "exit 1: no space" });
  assert.equal(errorOfEvent(diag("warning", URN)), undefined);
  assert.equal(errorOfEvent(diag("error")), undefined);
});
