// The daemon and Python's mailbox.mbox (with lock(): dotlock + lockf) append to the same
// INBOX at once: 200 messages over 50 SMTP connections against a Python writer.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { readMbox, startFixture } from "./fixture.ts";
import { runLoad } from "./load.ts";

const PYTHON_WRITER = `
import mailbox, random, sys, time
path, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    box = mailbox.mbox(path)
    for attempt in range(5000):
        try:
            box.lock()
            break
        except mailbox.ExternalClashError:
            time.sleep(0.005)
    else:
        sys.exit("never got the lock")
    msg = mailbox.mboxMessage("From: python@example.org\\nSubject: python-%d\\n\\nBEGIN-python-%d\\nFrom python with love\\nEND-python-%d\\n" % (i, i, i))
    msg.set_from("python@example.org")
    box.add(msg)
    box.flush()
    box.unlock()
    box.close()
    time.sleep(random.random() * 0.01)
print("done", count)
`;

it("keeps every message when Python's mailbox.mbox appends to the INBOX while the daemon delivers 200", async (t) => {
  const f = await startFixture(t);
  const inbox = f.inbox("ada");
  await mkdir(path.dirname(inbox), { recursive: true });
  const pythonCount = 40;
  const python = spawn("python3", ["-c", PYTHON_WRITER, inbox, String(pythonCount)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => python.kill());
  let pyOut = "";
  python.stdout.on("data", (d) => (pyOut += d));
  python.stderr.on("data", (d) => (pyOut += d));
  const pythonDone = new Promise<number | null>((resolve) => python.on("exit", resolve));

  const { accepted, refused } = await runLoad({
    port: f.port,
    connections: 50,
    messagesPerConnection: 4,
    recipients: () => ["ada@semail.test"],
  });
  assert.equal(await pythonDone, 0, pyOut);
  assert.deepEqual([...refused], []);
  assert.equal(accepted.size, 200);

  const messages = await readMbox(inbox);
  const subjects = messages.map((m) => m.subject ?? "");
  assert.equal(messages.length, 200 + pythonCount);
  assert.equal(new Set(subjects).size, messages.length, "no message twice");
  for (let n = 0; n < 200; n++) assert.ok(subjects.includes(`load-${n}`), `load-${n} missing`);
  for (let i = 0; i < pythonCount; i++) assert.ok(subjects.includes(`python-${i}`), `python-${i} missing`);
  // The two writers really ran at the same time: their messages interleave in the file.
  const pythonAt = subjects.flatMap((s, i) => (s.startsWith("python-") ? [i] : []));
  assert.ok(
    subjects.slice(pythonAt[0], pythonAt.at(-1)).some((s) => s.startsWith("load-")),
    "the writers did not overlap",
  );
  for (const m of messages) {
    const tag = m.subject!.replace(/^load-/, "");
    assert.match(m.body, new RegExp(`^BEGIN-${tag}\\n[^]*END-${tag}\\n*$`), `${m.subject} is whole`);
  }
});
