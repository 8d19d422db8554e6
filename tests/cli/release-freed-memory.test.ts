// malloc_trim through node:ffi: present on this Node and glibc, and it gives freed heap pages
// back: a child that frees 256 MiB of 64 KiB buffers keeps them until it trims.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { mallocTrim, releaseFreedMemory } from "../../cli/release-freed-memory.ts";
import { silentLogger } from "../../lib/logger.ts";
import { repoPath } from "../../testkit/repo-path.ts";

test("malloc_trim is there on this Node and glibc, and the timer stops", () => {
  const trim = mallocTrim(silentLogger());
  assert.equal(typeof trim, "function", "node:ffi and libc.so.6's malloc_trim");
  trim!();
  const stop = releaseFreedMemory(silentLogger());
  stop();
});

test("a trim returns freed message-sized buffers to the kernel", async () => {
  const child = `
    import { mallocTrim } from ${JSON.stringify(repoPath("cli/release-freed-memory.ts"))};
    import { readFileSync } from "node:fs";
    const rssMiB = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024;
    let held = [];
    for (let i = 0; i < 4096; i++) held.push(Buffer.alloc(64 * 1024, i));
    // Keep one in 64 so the heap stays fragmented, as after a load of messages.
    held = held.filter((_, i) => i % 64 === 0);
    globalThis.gc();
    const before = rssMiB();
    mallocTrim({ debug() {} })();
    console.log(JSON.stringify({ before, after: rssMiB() }));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--expose-gc", "--disable-warning=ExperimentalWarning", "--input-type=module", "-e", child],
    { timeout: 60_000 },
  );
  const { before, after } = JSON.parse(stdout) as { before: number; after: number };
  assert.ok(
    before - after > 100,
    `RSS ${before.toFixed(0)} MiB before the trim, ${after.toFixed(0)} MiB after: expected it to give back most of the 252 MiB freed`,
  );
});
