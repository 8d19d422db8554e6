// The drift check. Local mode's part for real: the tracker (deploy/local/track-applied.ts)
// records each list applied in full in report.appliedUsersFile, and the report compares it
// with the users list on disk: OK as applied, WARN naming each mailbox added, changed or
// removed since, and still WARN after an apply that failed. The engine's part: its preview's
// lines become one finding (the deploy e2e test runs the real engine's drift; not again here).
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { parseSettings, usersListOptions } from "../../../config/settings.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { trackApplied } from "../../../deploy/local/track-applied.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { appliedListFindings, previewFindings } from "../../../services/report/checks/drift.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const ADA = "  - {owner: ada, address: ada@ada.semail.test, size: 32MiB}\n";
const BOB = "  - {owner: bob, address: bob@bob.semail.test, size: 32MiB}\n";

describe("report: drift", () => {
  it("compares the users list on disk with the one local mode last applied", async (t) => {
    const dir = await tempDir(t, "semail-report-drift-");
    const record = path.join(dir, "applied-users.yaml");
    const settings = parseSettings(
      { users: path.join(dir, "users.yaml"), minMailboxSize: 1, report: { appliedUsersFile: record } },
      "test",
    );
    const onDisk = async (text: string) => {
      await writeFile(settings.users, text);
      return parseUsersList(await readFile(settings.users, "utf8"), usersListOptions(settings));
    };
    const check = async (list: Awaited<ReturnType<typeof onDisk>>) =>
      (await appliedListFindings(settings, list)).map(
        (f) => `${f.status} ${f.detail.replace(/\(\d{4}-[^)]*\)/, "(AT)")}`,
      );
    let failing = false;
    const tracked = trackApplied(
      {
        name: "test",
        async apply() {
          if (failing) throw new Error("the apply failed");
        },
      },
      record,
    );
    const apply = (list: Awaited<ReturnType<typeof onDisk>>) =>
      tracked.applier.apply({ list, logger: silentLogger(), signal: new AbortController().signal });

    const first = await onDisk(`mailboxes:\n${ADA}${BOB}`);
    assert.deepEqual(await check(first), [`WARN never applied: ${record} does not exist`]);
    await apply(first);
    // The same list in another layout is the same list.
    const flow = await onDisk(
      "mailboxes: [{address: bob@bob.semail.test, owner: bob, size: 33554432}, {owner: ada, address: ada@ada.semail.test, size: 32MiB}]\n",
    );
    assert.deepEqual(await check(flow), ["OK applied as it is (AT)"]);

    const edited = await onDisk(
      `mailboxes:\n  - {owner: ada, address: ada@ada.semail.test, size: 64MiB}\n  - {owner: carl, address: carl@carl.semail.test}\n`,
    );
    assert.deepEqual(await check(edited), [
      "WARN differs from the list last applied (AT): ada@ada.semail.test changed, bob@bob.semail.test removed, carl@carl.semail.test added",
    ]);
    failing = true;
    await assert.rejects(apply(edited), /the apply failed/);
    assert.equal((await check(edited))[0]?.startsWith("WARN differs"), true, "a failed apply is not recorded");
    failing = false;
    await apply(edited);
    assert.deepEqual(await check(edited), ["OK applied as it is (AT)"]);
    const [finding] = await appliedListFindings(parseSettings({}, "test"), edited);
    assert.equal(finding?.detail, "not applicable: no record of an applied list (report.appliedUsersFile)");
  });

  it("turns the engine's preview into one finding: OK, WARN counting the changes with the fix, FAIL when it fails", async () => {
    const changes = [
      "~  update  docker:index/container:Container  inbound-container  (envs)",
      "+  create  command:remote:Command  mailbox-ada",
    ];
    assert.deepEqual(await previewFindings(async () => [], "prod"), [
      { check: "drift", subject: "stack prod", status: "OK", detail: "the hosts match the program" },
    ]);
    const [drifted] = await previewFindings(async () => changes, "prod");
    assert.equal(drifted?.status, "WARN");
    assert.match(
      drifted!.detail,
      /^2 resources would change: ~ update docker:index\/container:Container inbound-container \(envs\); \+ create/,
    );
    assert.equal(drifted?.fix, "semail deploy up --refresh");
    const [failed] = await previewFindings(async () => {
      throw new Error("no stack named prod");
    }, "prod");
    assert.equal(failed?.status, "FAIL");
    assert.match(failed!.detail, /the preview failed: no stack named prod/);
  });
});
