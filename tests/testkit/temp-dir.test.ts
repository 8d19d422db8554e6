// Temp dirs that clean up: made under the system temp dir with the prefix, gone after the test.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, describe, it, test } from "node:test";
import { tempDir, tempDirForSuite } from "../../testkit/temp-dir.ts";

test("tempDir makes a fresh directory and removes it, contents and all, in the test's after hooks", async () => {
  const hooks: Array<() => unknown> = [];
  const dir = await tempDir({ after: (fn) => hooks.push(fn) }, "semail-kit-");
  assert.equal(dirname(dir), tmpdir());
  assert.match(basename(dir), /^semail-kit-.{6}$/);
  await writeFile(join(dir, "file"), "x");
  assert.notEqual(await tempDir({ after: (fn) => hooks.push(fn) }, "semail-kit-"), dir, "each call its own");
  assert.equal(hooks.length, 2);
  for (const hook of hooks) await hook();
  assert.equal(existsSync(dir), false);
});

describe("tempDirForSuite", () => {
  const shared = tempDirForSuite("semail-kit-suite-");
  let seen: string | undefined;
  it("is there for every test of the suite", () => {
    seen = shared.path;
    assert.ok(existsSync(seen));
  });
  after(() => assert.equal(existsSync(seen!), false, "removed by the suite's own after, registered first"));
});
