// Dovecot and the inbound daemon on the same mbox files at once. While the daemon takes 200
// messages over 20 SMTP connections, an IMAP client flags, copies and expunges in a loop
// (seeded, bounded); afterwards every delivered message is there exactly once or was
// deliberately expunged, copies are where they were copied, and every file parses with
// every message whole. Then the formats: Dovecot APPENDs (Content-Length, an unquoted
// `From ` line), a store process is killed in the middle of an append, an IMAP client
// waits on the dead dotlock instead of reading the half message, crash recovery cuts the
// tail, the daemon appends again, and every file still parses whole. Memory (PSS) of the
// Dovecot processes is reported idle and after the load.
import assert from "node:assert/strict";
import { access, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { folderName, recoverMailRoot } from "../../../mailservers/inbound/store/index.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { sendMessage } from "../../helpers/smtp.ts";
import { until } from "../../../testkit/until.ts";
import { lockLeftovers, runChild } from "../../mailservers/inbound/store/crash-fixture.ts";
import { provisionRoot } from "../../mailservers/inbound/store/fixture.ts";
import { handToMailUids, python, startImapFixture } from "./fixture.ts";
import { messageId, mboxoQuoted, readMboxFile, type MboxMessage } from "./mbox.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { mailUid } from "../../../config/mail-uid.ts";

/** Whether a Dovecot imap process running as `uid` is asleep in a timed wait (its dotlock loop). */
async function imapProcessWaiting(uid: number): Promise<boolean> {
  for (const pid of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    if (!/^Name:\s+imap$/m.test(status) || !new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) continue;
    const wchan = await readFile(`/proc/${pid}/wchan`, "utf8").catch(() => "");
    if (/nanosleep/.test(wchan)) return true;
  }
  return false;
}

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;
const BOB = TEST_USERS.find((u) => u.uid === "bob")!.password;
const SEED = 13;
const MESSAGES = 200;
const CONNECTIONS = 20;
const SENDERS = ["s0@example.org", "s1@example.org", "s2@example.org", "s3@example.org"];

/** A small seeded generator (mulberry32): the same run every time. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Message `i`: 1 to 400 lines, some starting with `From ` (the store quotes them), ending in a marker. */
function body(i: number, next: () => number): string {
  const lines: string[] = [];
  const count = 1 + Math.floor(next() * 400);
  for (let n = 0; n < count; n++)
    lines.push(
      next() < 0.05
        ? `From line ${n} of message ${i}`
        : `line ${n} of message ${i} ${"x".repeat(Math.floor(next() * 60))}`,
    );
  lines.push(`end of message ${i}`);
  return `${lines.join("\n")}\n`;
}

/** PSS in KiB of each process, from /proc/<pid>/smaps_rollup (smem's figure). */
async function pss(
  pids: readonly number[],
): Promise<{ total: number; processes: number; byName: Record<string, number> }> {
  let total = 0;
  let processes = 0;
  const byName: Record<string, number> = {};
  for (const pid of pids) {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
    const kib = Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? NaN);
    if (!Number.isFinite(kib)) continue;
    const name = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "?")).trim();
    total += kib;
    processes++;
    byName[name] = (byName[name] ?? 0) + kib;
  }
  return { total, processes, byName };
}

function describePss(figure: Awaited<ReturnType<typeof pss>>): string {
  return `${(figure.total / 1024).toFixed(1)} MiB PSS in ${figure.processes} processes (${Object.entries(figure.byName)
    .map(([n, k]) => `${n} ${(k / 1024).toFixed(1)}`)
    .join(", ")})`;
}

/** Dovecot's "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA" message, which holds X-IMAP. */
function isPseudo(message: MboxMessage): boolean {
  return message.header("X-IMAP") !== undefined && /FOLDER INTERNAL DATA/.test(message.header("Subject") ?? "");
}

/** Each message's Message-ID, counted. */
function census(messages: readonly MboxMessage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) {
    const id = messageId(message) ?? "(none)";
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Every message of every file of `owner` parses; SEMail's are byte for byte what was sent. */
async function assertWhole(
  mailRoot: string,
  owner: string,
  expected: ReadonlyMap<string, string>,
): Promise<Map<string, MboxMessage[]>> {
  const files = new Map<string, MboxMessage[]>();
  const names = ["INBOX", ...(await readdir(path.join(mailRoot, owner, "mail"))).map((n) => path.join("mail", n))];
  for (const name of names) {
    assert.ok(!name.endsWith(".lock"), `a lock is left: ${owner}/${name}`);
    const messages = await readMboxFile(path.join(mailRoot, owner, name));
    for (const message of messages) {
      const id = messageId(message);
      const text = id === undefined ? undefined : expected.get(id);
      if (text !== undefined) assert.equal(message.body, mboxoQuoted(text), `${owner}/${name}: message ${id} is whole`);
    }
    files.set(name, messages);
  }
  return files;
}

test("Dovecot and the inbound daemon on the same mbox files at once", {
  skip: needsRoot,
  timeout: 300_000,
}, async (t) => {
  const fixture = await startImapFixture(t);
  const { mailRoot } = fixture.inbound;
  // Idle: once the login processes of the start-up probes have gone.
  const dovecotPss = async () => pss(await fixture.imap.pids());
  await until(
    async () => !Object.keys((await dovecotPss()).byName).some((n) => n.endsWith("-login")),
    "the start-up probes' login processes to exit",
    10_000,
  );
  const idle = await dovecotPss();
  t.diagnostic(`dovecot idle: ${describePss(idle)}`);
  const expected = new Map<string, string>();
  const pair = folderName("alice@alice.semail.test", SENDERS[0]!);

  await t.test(
    `${MESSAGES} messages over ${CONNECTIONS} connections while IMAP flags, copies and expunges`,
    async () => {
      // The first message makes the pair folder the IMAP client copies into.
      const next = random(SEED);
      const messages = Array.from({ length: MESSAGES }, (_, i) => {
        const text = body(i, next);
        expected.set(`c${i}@example.org`, text);
        const from = SENDERS[i % SENDERS.length]!;
        return {
          from,
          data: `From: ${from}\r\nTo: alice@alice.semail.test\r\nSubject: c${i}\r\nMessage-ID: <c${i}@example.org>\r\n\r\n${text.replace(/\n/g, "\r\n").replace(/^\./gm, "..")}`,
        };
      });
      const first = await sendMessage(fixture.inbound.port, {
        from: messages[0]!.from,
        to: ["alice@alice.semail.test"],
        data: messages[0]!.data,
      });
      assert.equal(first.code, 250);

      const started = Date.now();
      const imap = python<{
        expunged: string[];
        copied: Record<string, string[]>;
        rounds: number;
        during: number;
        flagged: number;
        slowest: number;
      }>(
        fixture,
        `
import time
rng = random.Random(${SEED})
m = login("alice", "${ALICE}")
m.create("Archive")
open(os.environ["READY"], "w").close()
targets = ["Archive", '"${pair}"']
expunged, copied, flagged, rounds, during = [], {"Archive": [], "${pair}": []}, 0, 0, 0
deadline = time.time() + 120
slowest = 0
while rounds < 2000 and time.time() < deadline:
    rounds += 1
    began = time.time()
    m.select("INBOX")
    slowest = max(slowest, time.time() - began)
    typ, data = m.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    if os.path.exists(os.environ["STOP"]):
        if rounds - during > 20:
            break
    else:
        during = rounds
    if not uids:
        continue
    chosen = b",".join(rng.sample(uids, min(len(uids), rng.randint(1, 3))))
    typ, data = m.uid("FETCH", chosen, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    ids = [re.search(rb"<([^>]+)>", d[1]).group(1).decode() for d in data if isinstance(d, tuple)]
    action = rng.random()
    if action < 0.5:
        m.uid("STORE", chosen, "+FLAGS", "(\\\\Seen \\\\Flagged)"); flagged += len(ids)
    elif action < 0.8:
        target = rng.choice(targets)
        assert m.uid("COPY", chosen, target)[0] == "OK"
        copied[target.strip('"')] += ids
    else:
        m.uid("STORE", chosen, "+FLAGS", "(\\\\Deleted)"); m.expunge(); expunged += ids
m.logout()
print(json.dumps({"expunged": expunged, "copied": copied, "rounds": rounds, "during": during, "flagged": flagged, "slowest": slowest}))
`,
        { STOP: path.join(fixture.stateDir, "stop-imap"), READY: path.join(fixture.stateDir, "imap-ready") },
      );
      await until(
        () =>
          access(path.join(fixture.stateDir, "imap-ready")).then(
            () => true,
            () => false,
          ),
        "the IMAP loop to start",
        20_000,
      );

      let index = 1;
      let underLoad: Promise<Awaited<ReturnType<typeof pss>>> | undefined;
      const pause = random(SEED + 1);
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          for (let i = index++; i < MESSAGES; i = index++) {
            if (i === MESSAGES / 2) underLoad = dovecotPss();
            await new Promise((r) => setTimeout(r, Math.floor(pause() * 30)));
            const reply = await sendMessage(fixture.inbound.port, {
              from: messages[i]!.from,
              to: ["alice@alice.semail.test"],
              data: messages[i]!.data,
              // The reply to the dot may wait for Dovecot's dotlock, up to inbound.lockTimeout (20 s).
              timeoutMs: 30_000,
            });
            assert.equal(reply.code, 250, `message ${i}: ${reply.lines.join(" ")}`);
          }
        }),
      );
      const deliveryMs = Date.now() - started;
      await writeFile(path.join(fixture.stateDir, "stop-imap"), "");
      const loop = await imap;
      t.diagnostic(
        `delivered ${MESSAGES} in ${deliveryMs} ms; IMAP: ${loop.rounds} rounds (${loop.during} during the deliveries; slowest SELECT, waiting for the dotlock, ${Math.round(loop.slowest * 1000)} ms), ${loop.flagged} flagged, ${loop.expunged.length} expunged, ${Object.values(loop.copied).flat().length} copied`,
      );
      t.diagnostic(`dovecot with the IMAP session, mid-delivery: ${describePss((await underLoad)!)}`);
      assert.ok(loop.during >= 1, `the IMAP loop ran alongside the deliveries (${loop.during} rounds)`);
      assert.ok(
        loop.expunged.length > 0 && loop.copied.Archive!.length > 0 && loop.copied[pair]!.length > 0,
        JSON.stringify(loop).slice(0, 300),
      );

      const files = await assertWhole(mailRoot, "alice", expected);
      const inbox = census(files.get("INBOX")!);
      const expunged = new Set(loop.expunged);
      for (let i = 0; i < MESSAGES; i++) {
        const id = `c${i}@example.org`;
        assert.equal(
          inbox.get(id) ?? 0,
          expunged.has(id) ? 0 : 1,
          `INBOX holds ${id} ${expunged.has(id) ? "no more (expunged)" : "once"}`,
        );
      }
      // Dovecot keeps its folder data (X-IMAP) in a pseudo message at the top once the first message is expunged.
      const kept = files.get("INBOX")!.filter((m) => !isPseudo(m));
      assert.ok(
        files
          .get("INBOX")!
          .slice(1)
          .every((m) => !isPseudo(m)),
        "a pseudo message only at the top",
      );
      assert.equal(kept.length, MESSAGES - expunged.size);
      const copies = (name: string) =>
        loop.copied[name]!.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());
      assert.deepEqual(census(files.get(path.join("mail", "Archive"))!), copies("Archive"));
      // What Dovecot copies carries Content-Length, its body's quoting kept as SEMail wrote it.
      assert.ok(
        files.get(path.join("mail", "Archive"))!.every((m) => m.contentLength === m.body.length),
        "COPY writes Content-Length",
      );
      const inPair = census(files.get(path.join("mail", pair))!);
      for (let i = 0; i < MESSAGES; i++) {
        const id = `c${i}@example.org`;
        assert.equal(
          inPair.get(id) ?? 0,
          (i % SENDERS.length === 0 ? 1 : 0) + (copies(pair).get(id) ?? 0),
          `${pair} holds ${id} as delivered plus copied`,
        );
      }
      // Dovecot's own view agrees with the file.
      const seen = await python<{ ids: string[] }>(
        fixture,
        `
m = login("alice", "${ALICE}")
m.select("INBOX", readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
print(json.dumps({"ids": [re.search(rb"<([^>]+)>", d[1]).group(1).decode() for d in data if isinstance(d, tuple)]}))
`,
      );
      assert.deepEqual(
        seen.ids,
        kept.map((m) => messageId(m)),
        "Dovecot hides its pseudo message",
      );
      const loaded = await dovecotPss();
      t.diagnostic(`dovecot after the load: ${describePss(loaded)}`);
    },
  );

  await t.test(
    "after Dovecot has written (flags, expunge, APPEND), a crash mid-append is cut back under the lock Dovecot waits on, and the daemon appends after it",
    async () => {
      // bob: the daemon delivers, IMAP flags one, expunges one, APPENDs one with an unquoted From line.
      for (let i = 0; i < 4; i++) {
        const text = `bob ${i}\nFrom the daemon, quoted\n`;
        expected.set(`b${i}@example.org`, text);
        const reply = await sendMessage(fixture.inbound.port, {
          from: "s0@example.org",
          to: ["bob@bob.semail.test"],
          data: `Subject: b${i}\r\nMessage-ID: <b${i}@example.org>\r\n\r\n${text.replace(/\n/g, "\r\n")}`,
        });
        assert.equal(reply.code, 250);
      }
      const appended = await python<{ append: string }>(
        fixture,
        `
m = login("bob", "${BOB}")
m.select("INBOX")
m.store("1", "+FLAGS", "(\\\\Seen \\\\Answered)")
m.store("2", "+FLAGS", "(\\\\Deleted)"); m.expunge()
msg = b"Subject: appended\\r\\nMessage-ID: <appended@example.org>\\r\\n\\r\\nfirst line\\r\\nFrom the client, not quoted\\r\\n>From the client, one quote\\r\\nlast line\\r\\n"
typ, data = m.append("INBOX", "(\\\\Flagged)", None, msg)
m.logout()
print(json.dumps({"append": typ}))
`,
      );
      assert.equal(appended.append, "OK");
      const inbox = path.join(mailRoot, "bob", "INBOX");
      const afterAppend = (await readFile(inbox)).toString("latin1");
      assert.match(afterAppend, /^Content-Length: \d+$/m, "Dovecot writes Content-Length");
      assert.match(afterAppend, /^From the client, not quoted$/m, "and does not quote From lines in what it appends");

      // A store process on the same mail root is killed in the middle of an append (crash-child.ts
      // delivers to the roots of bob and carol), leaving its dotlock and a partial tail.
      await provisionRoot(mailRoot, "carol");
      await handToMailUids(mailRoot, ["carol"]);
      const crash = await runChild(mailRoot, "mid-write", 3, 6);
      assert.equal(crash.signal, "SIGKILL");
      const locks = await lockLeftovers(mailRoot);
      assert.ok(locks.length > 0, "the dead writer's lock is left");
      const locked = locks.find((l) => l.startsWith("bob/") && l.endsWith(".lock"));
      t.diagnostic(`after the kill: ${locks.join(", ")}`);

      // An IMAP client opens the locked file now: it must wait for the lock, not read the half message.
      let reader: Promise<{ ids: (string | null)[] }> | undefined;
      if (locked !== undefined) {
        const folder = locked === "bob/INBOX.lock" ? "INBOX" : locked.slice("bob/mail/".length, -".lock".length);
        let done = false;
        reader = python<{ ids: (string | null)[] }>(
          fixture,
          `
m = login("bob", "${BOB}")
m.select('"${folder}"', readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)])")
print(json.dumps({"ids": [(re.search(rb"<([^>]+)>", d[1]) or re.search(rb"Subject: (.*)", d[1])).group(1).decode().strip() for d in data if isinstance(d, tuple)]}))
`,
        );
        void reader.then(
          () => (done = true),
          () => (done = true),
        );
        // No sleep as proof: Dovecot's imap process for bob is seen in its dotlock wait (it sleeps
        // between tries), and the reader has not finished at that moment.
        await until(() => imapProcessWaiting(mailUid("bob")), `bob's imap process waiting on ${locked}`, 30_000);
        assert.equal(done, false, `the IMAP reader waits on ${locked}`);
      }
      const report = await recoverMailRoot(mailRoot, silentLogger());
      assert.ok(report.truncated.length > 0 || report.locksRemoved.length > 0, JSON.stringify(report));
      assert.deepEqual(report.unresolved, []);
      t.diagnostic(`recovery: ${JSON.stringify(report)}`);
      if (reader !== undefined) {
        const seen = await reader;
        assert.ok(
          seen.ids.every((id) => id !== null),
          JSON.stringify(seen),
        );
      }

      // The daemon appends after Dovecot's and the recovered writes.
      for (let i = 4; i < 7; i++) {
        const text = `bob ${i}\nFrom the daemon again\n`;
        expected.set(`b${i}@example.org`, text);
        const reply = await sendMessage(fixture.inbound.port, {
          from: "s0@example.org",
          to: ["bob@bob.semail.test"],
          data: `Subject: b${i}\r\nMessage-ID: <b${i}@example.org>\r\n\r\n${text.replace(/\n/g, "\r\n")}`,
        });
        assert.equal(reply.code, 250);
      }
      const files = await assertWhole(mailRoot, "bob", expected);
      const messages = files.get("INBOX")!.filter((m) => !isPseudo(m));
      const ids = messages.map((m) => messageId(m) ?? m.header("Subject"));
      for (const id of [
        "b0@example.org",
        "b2@example.org",
        "b3@example.org",
        "appended@example.org",
        "b4@example.org",
        "b5@example.org",
        "b6@example.org",
      ]) {
        assert.equal(ids.filter((x) => x === id).length, 1, `${id} once in bob's INBOX: ${ids.join(" ")}`);
      }
      assert.ok(!ids.includes("b1@example.org"), "the expunged message stays expunged");
      const client = messages.find((m) => messageId(m) === "appended@example.org")!;
      assert.equal(
        client.body,
        "first line\nFrom the client, not quoted\n>From the client, one quote\nlast line\n",
        "the APPENDed message is one message, read by its Content-Length",
      );
      for (const crashed of messages.filter((m) => /^crash \d+$/.test(m.header("Subject") ?? ""))) {
        assert.match(crashed.body, /^(message \d+ line\n)+$/, `${crashed.header("Subject")} is whole`);
      }
      // Dovecot reads the same messages (it resyncs what the recovery and the daemon changed).
      const seen = await python<{ ids: string[] }>(
        fixture,
        `
m = login("bob", "${BOB}")
m.select("INBOX", readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)])")
print(json.dumps({"ids": [(re.search(rb"<([^>]+)>", d[1]) or re.search(rb"Subject: (.*)", d[1])).group(1).decode().strip() for d in data if isinstance(d, tuple)]}))
`,
      );
      assert.deepEqual(seen.ids, ids);
    },
  );
});
