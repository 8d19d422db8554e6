// The mailbox root's layout as every reader checks it: a plain provisioned root has INBOX,
// mail/ and the marker; either file makes it ready (a reader may delete an empty INBOX); a
// root with neither is an unmounted mount point, and a root that is not a directory is unsafe.
import assert from "node:assert/strict";
import { mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import {
  FOLDERS_DIRECTORY,
  INBOX_FILE,
  PROVISIONED_MARKER,
  provisionPlainRoot,
  provisioningState,
} from "../../config/mailbox-layout.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

test("a plain root is provisioned like mailbox-fs.sh makes one, and stays ready while either file is there", async (t) => {
  const mailRoot = await tempDir(t, "semail-layout-");
  const root = path.join(mailRoot, "bob");
  assert.equal(provisioningState(root), "missing");
  await provisionPlainRoot(mailRoot, "bob");
  assert.deepEqual((await readdir(root)).sort(), [PROVISIONED_MARKER, INBOX_FILE, FOLDERS_DIRECTORY].sort());
  assert.equal(provisioningState(root), "ready");
  await rm(path.join(root, INBOX_FILE));
  assert.equal(provisioningState(root), "ready", "the marker alone");
  await rm(path.join(root, PROVISIONED_MARKER));
  assert.equal(provisioningState(root), "missing", "an empty mount point is not ready");
  await writeFile(path.join(root, INBOX_FILE), "");
  assert.equal(provisioningState(root), "ready", "INBOX alone");
});

test("a root that is a symlink or a file is unsafe", async (t) => {
  const mailRoot = await tempDir(t, "semail-layout-");
  await mkdir(path.join(mailRoot, "elsewhere"));
  await writeFile(path.join(mailRoot, "elsewhere", INBOX_FILE), "");
  await symlink(path.join(mailRoot, "elsewhere"), path.join(mailRoot, "bob"));
  await writeFile(path.join(mailRoot, "carol"), "");
  assert.equal(provisioningState(path.join(mailRoot, "bob")), "unsafe");
  assert.equal(provisioningState(path.join(mailRoot, "carol")), "unsafe");
});
