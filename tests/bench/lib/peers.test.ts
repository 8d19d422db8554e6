// The benches' peer MTAs still start from their unpacked Debian packages, do their job once
// (a message into the mbox file; a message relayed to smtp-sink), and stop leaving no
// process and no mount behind. Skipped only when the packages cannot be fetched.
import assert from "node:assert/strict";
import { chmod, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, test, type TestContext } from "node:test";
import { startExim, EXIM_PACKAGES } from "../../../bench/lib/exim.ts";
import { MboxCounter } from "../../../bench/lib/mbox-count.ts";
import { startOpenSmtpd, OPENSMTPD_PACKAGES } from "../../../bench/lib/opensmtpd.ts";
import { PeerUnavailable, unpackedPeer } from "../../../bench/lib/peer-debs.ts";
import type { PeerInstance, PeerJob } from "../../../bench/lib/peer-job.ts";
import { freePort } from "../../../bench/lib/process.ts";
import { sendLoad } from "../../../bench/relay/load.ts";
import { startSink } from "../../../bench/relay/sink.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { until } from "../../../testkit/until.ts";

const peers = [
  { name: "exim", packages: EXIM_PACKAGES, program: "usr/sbin/exim4", start: startExim },
  { name: "opensmtpd", packages: OPENSMTPD_PACKAGES, program: "usr/sbin/smtpd", start: startOpenSmtpd },
];

/** A dir the peers' unprivileged users may enter; false (after t.skip) when the packages cannot be had. */
async function prepare(t: TestContext, peer: (typeof peers)[number]): Promise<string | false> {
  try {
    await unpackedPeer(peer.packages, [peer.program]);
  } catch (err) {
    if (!(err instanceof PeerUnavailable)) throw err;
    t.skip(`${peer.name}'s .debs cannot be fetched here: ${err.message}`);
    return false;
  }
  const dir = await tempDir(t, `semail-peer-${peer.name}-`);
  await chmod(dir, 0o755);
  return dir;
}

/** Mount points under `dir` seen from here: the peer's mounts are in its own namespace, so none may leak. */
async function mountsUnder(dir: string): Promise<string[]> {
  const mounts = await readFile("/proc/self/mountinfo", "utf8");
  return mounts
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point.startsWith(dir));
}

async function stopAndCheck(running: PeerInstance, dir: string): Promise<void> {
  const pid = await running.pid();
  await running.stop();
  assert.equal(await readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""), "", "the daemon's process is gone");
  assert.deepEqual(await mountsUnder(dir), []);
}

const send = (port: number, to: string) =>
  sendLoad({ port, sessions: 1, messages: 1, size: 4096, from: "bench@source.test", to });

for (const peer of peers) {
  describe(peer.name, { skip: needsRoot }, () => {
    test("delivers a message into its mbox file, then stops leaving nothing", async (t) => {
      const dir = await prepare(t, peer);
      if (!dir) return;
      const mailDir = path.join(dir, "vmail");
      const job: PeerJob = { kind: "mbox", domain: "bench.test", mailboxes: ["box00", "box01"], mailDir };
      const running = await peer.start(dir, job);
      t.after(() => running.stop());
      await send(running.port, "box01@bench.test");
      const counter = new MboxCounter();
      await until(async () => (await counter.count([path.join(mailDir, "box01")])) === 1, "one message in box01").catch(
        async (err: Error) => assert.fail(`${err.message}; ${peer.name} said: ${await running.output()}`),
      );
      assert.match(await readFile(path.join(mailDir, "box01"), "latin1"), /^From bench@source\.test /);
      await stopAndCheck(running, dir);
    });

    test("relays a message to the sink, then stops leaving nothing", async (t) => {
      const dir = await prepare(t, peer);
      if (!dir) return;
      const sink = await startSink(await freePort());
      t.after(() => sink.stop());
      const running = await peer.start(dir, { kind: "relay", sinkPort: sink.port });
      t.after(() => running.stop());
      await send(running.port, "someone@d0.relay-bench.test");
      await until(() => sink.count() === 1, "one message at the sink").catch(async (err: Error) =>
        assert.fail(`${err.message}; ${peer.name} said: ${await running.output()}`),
      );
      await stopAndCheck(running, dir);
    });
  });
}
