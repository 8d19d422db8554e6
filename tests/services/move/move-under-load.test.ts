// `semail mailbox move ada --to b` between two hosts (two local data dirs, each with its own
// inbound daemon, mail root and users list) while a sender keeps sending numbered messages to
// both hosts in turn, as a stale MX would, retrying each 4xx as an MTA does (bounded). At the
// end every message that got a 250 is in b's INBOX and b's pair folder exactly once and whole,
// nothing refused is stored, the old archive is on b byte for byte, and nothing reached a's copy
// after the handover. Also through the command: a target with mail, a daemon that never lets go.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { open, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { describe, it, type TestContext } from "node:test";
import { stringify } from "yaml";
import { moveText } from "../../../cli/mailbox-move.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { startInbound } from "../../../mailservers/inbound/daemon.ts";
import type { MoveResult } from "../../../services/move/index.ts";
import { folderName } from "../../../mailservers/inbound/store/index.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { until } from "../../../testkit/until.ts";
import { Ledger, faultTag } from "../../faults/ledger.ts";
import { SENDER, taggedMessage, tagsIn } from "../../faults/tagged-mail.ts";
import { sendMessage } from "../../helpers/smtp.ts";
import { ADDRESS, OWNER, twoHosts, type TestHostDirs } from "./fixture.ts";

const run = promisify(execFile);
const BIN = repoPath("bin/semail.mjs");
/** Messages sent over the move, by this many senders at a time, each this long. */
const MESSAGES = 300;
const SENDERS = 4;
const MESSAGE_BYTES = 2048;
/** A sender's pause between two messages: the 300 span the move rather than end before it. */
const PACE_MS = 40;
/** How long one message is retried on 4xx before its sender gives up (an MTA's queue, shortened). */
const RETRY_FOR_MS = 90_000;
/** The mailbox's old mail: one folder this big, copied while the new mail arrives. */
const ARCHIVE_BYTES = 64 * 1024 * 1024;

/** `semail mailbox move` as an operator runs it, with `host`'s settings in a file. */
async function semailMove(host: TestHostDirs, args: readonly string[]) {
  const config = path.join(path.dirname(host.users), "semail.yaml");
  await writeFile(config, stringify({ ...host.raw, log: { level: "info" } }));
  return run(process.execPath, [BIN, "mailbox", "move", ...args, "--config", config], { timeout: 180_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      stdout: error.stdout ?? "",
      stderr: error.stderr ?? "",
    }),
  );
}

/** An mbox of old mail, `bytes` long, at `file`. */
async function writeArchive(file: string, bytes: number): Promise<void> {
  const chunk: string[] = [];
  for (let i = 0; chunk.join("").length < 1024 * 1024; i++)
    chunk.push(
      `From old@example.org Thu Jan  1 00:00:00 2026\nSubject: old-${i}\n\n${`${"o".repeat(75)}\n`.repeat(50)}\n`,
    );
  const block = Buffer.from(chunk.join(""));
  const handle = await open(file, "w", 0o600);
  try {
    for (let written = 0; written < bytes; written += block.length) await handle.write(block);
  } finally {
    await handle.close();
  }
}

const sha256 = async (file: string) =>
  createHash("sha256")
    .update(await readFile(file))
    .digest("hex");

/** Both hosts' daemons, started on their loopback ports and stopped at the test's end. */
async function startBoth(t: TestContext) {
  const ports = { main: await freeLoopbackPort(), b: await freeLoopbackPort() };
  const hosts = await twoHosts(t, { ports, inbound: { lockTimeout: 2000 } });
  for (const host of [hosts.main, hosts.b]) {
    const daemon = await startInbound(host.settings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
    t.after(() => daemon.stop());
  }
  return { ...hosts, ports };
}

interface Answer {
  readonly n: number;
  readonly host: "main" | "b";
  readonly code: number;
  readonly text: string;
  readonly at: number;
}

/**
 * Sends messages 0..MESSAGES-1 to ada, SENDERS at a time, each attempt to the other host than
 * the last (a stale MX); a 4xx is retried after a pause, for at most RETRY_FOR_MS.
 */
function keepSending(ports: { main: number; b: number }, ledger: Ledger) {
  const answers: Answer[] = [];
  let next = 0;
  const sendOne = async (n: number): Promise<void> => {
    const tag = faultTag(n);
    const data = taggedMessage(n, ADDRESS, MESSAGE_BYTES);
    for (let attempt = 0, until = Date.now() + RETRY_FOR_MS; ; attempt++) {
      const host = (n + attempt) % 2 === 0 ? "main" : "b";
      const reply = await sendMessage(ports[host], { from: SENDER, to: [ADDRESS], data }).catch((error: Error) => ({
        code: 0,
        text: `connection failed: ${error.message}`,
      }));
      answers.push({ n, host, code: reply.code, text: reply.text, at: Date.now() });
      if (reply.code === 250) return ledger.accepted(tag);
      if (reply.code >= 500 || Date.now() > until) return ledger.refused(tag, `${reply.code} ${reply.text}`);
      await sleep(25 + 25 * Math.min(attempt, 8));
    }
  };
  const sender = async () => {
    while (next < MESSAGES) {
      await sendOne(next++);
      await sleep(PACE_MS);
    }
  };
  return { answers, done: Promise.all(Array.from({ length: SENDERS }, sender)) };
}

/** The time (ms since the epoch) the move's log says `step` ended. */
function stepTime(stderr: string, step: string): number {
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { step?: string; time?: number };
    if (entry.step === step && entry.time !== undefined) return entry.time;
  }
  throw new Error(`the move logged no step ${JSON.stringify(step)}:\n${stderr}`);
}

describe("semail mailbox move under load", () => {
  it("moves ada from main to b while mail keeps arriving at both: none lost, none twice", async (t) => {
    const { main, b, ports } = await startBoth(t);
    await writeArchive(path.join(main.root(), "mail", "archive"), ARCHIVE_BYTES);
    const ledger = new Ledger();
    const sending = keepSending(ports, ledger);
    await until(() => ledger.tally(new Map()).accepted >= 60, "60 messages accepted before the move", 60_000);

    const moved = await semailMove(main, [OWNER, "--to", "b", "--wait", "30s", "--json"]);
    const sourceAfterMove = await stat(path.join(main.root(), "INBOX"));
    await sending.done;
    assert.equal(moved.code, 0, moved.stderr);
    const result = JSON.parse(moved.stdout) as MoveResult;
    for (const line of moveText(result).trimEnd().split("\n")) t.diagnostic(line);
    for (const line of moved.stderr.split("\n").filter((l) => l.includes('"step"'))) t.diagnostic(line);

    // Every message got its 250 in the end; the refusals on the way were the move's 451s.
    assert.deepEqual([...ledger.refusals], [], "no message given up (a 5xx, or 4xx past RETRY_FOR_MS)");
    const switched = stepTime(moved.stderr, "switch");
    const handedOver = stepTime(moved.stderr, "handover");
    const temporary = sending.answers.filter((a) => a.code >= 400 && a.code < 500);
    // RCPT while the list says moving (4.2.1), or DATA for a RCPT taken just before the daemon let go (4.2.0).
    for (const a of temporary) assert.match(`${a.code} ${a.text}`, /^451 4\.2\.[01] /, "a 4xx is the move's");
    const byReply = new Map<string, number>();
    for (const a of temporary) byReply.set(a.text.slice(0, 5), (byReply.get(a.text.slice(0, 5)) ?? 0) + 1);
    const accepted = sending.answers.filter((a) => a.code === 250);
    const duringMove = accepted.filter((a) => a.at > handedOver);
    t.diagnostic(
      `${MESSAGES} messages: ${accepted.filter((a) => a.at < switched).length} accepted before the switch, ${duringMove.length} after the handover (${duringMove.filter((a) => a.host === "main").length} of them through main, handed on); ${temporary.length} answers 451 (${[...byReply].map(([k, v]) => `${k} ×${v}`).join(", ")}) over ${temporary.length > 0 ? temporary.at(-1)!.at - temporary[0]!.at : 0} ms`,
    );
    assert.ok(temporary.length > 0, "some mail arrived while the mailbox was held");
    assert.ok(
      duringMove.some((a) => a.host === "main"),
      "main handed some mail on to b after the handover",
    );

    // On b: each accepted message once in the INBOX and once in its pair folder, whole.
    const inbox = await tagsIn([path.join(b.root(), "INBOX")]);
    const folder = await tagsIn([path.join(b.root(), "mail", folderName(ADDRESS, SENDER))]);
    for (const [where, arrivals] of [
      ["INBOX", inbox],
      ["pair folder", folder],
    ] as const) {
      const tally = ledger.tally(arrivals);
      assert.equal(tally.accepted, MESSAGES, `${where}: all accepted`);
      assert.deepEqual(
        [tally.lostTags, tally.duplicatedTags, tally.unacceptedTags],
        [[], [], []],
        `${where}: none lost, none twice, none refused yet stored`,
      );
    }
    assert.equal(
      await sha256(path.join(b.root(), "mail", "archive")),
      await sha256(path.join(main.root(), "mail", "archive")),
    );
    // main kept its copy (no --remove-source) and took nothing more after the handover.
    const sourceNow = await stat(path.join(main.root(), "INBOX"));
    assert.equal(sourceNow.size, sourceAfterMove.size, "nothing stored on main after the handover");
    for (const tag of (await tagsIn([path.join(main.root(), "INBOX")])).keys())
      assert.ok(inbox.has(tag), `${tag}, stored on main before the move, is on b`);
    assert.equal(result.owner, OWNER);
    assert.ok(result.bytes > ARCHIVE_BYTES, "the archive was part of the copy");
  });

  it("refuses a target with mail, and puts the list back when the daemon never lets go", async (t) => {
    const { main, b } = await twoHosts(t);
    await writeFile(path.join(main.root(), "INBOX"), "From a@b Thu Jan  1 00:00:00 2026\nSubject: x\n\nx\n\n");
    await writeFile(path.join(b.root(), "INBOX"), "From a@b Thu Jan  1 00:00:00 2026\nSubject: y\n\ny\n\n");
    const merge = await semailMove(main, [OWNER, "--to", "b"]);
    assert.equal(merge.code, 1);
    assert.match(
      merge.stderr,
      /semail mailbox move: host b already has mail for ada at .*\/b\/mail\/ada \(INBOX\): a move never merges; remove it or pick another host\n$/,
    );
    await writeFile(path.join(b.root(), "INBOX"), "");
    // No daemon runs on main: nothing lets go of the mailbox.
    const before = await readFile(main.users, "utf8");
    const stuck = await semailMove(main, [ADDRESS, "--to", "b", "--wait", "500ms"]);
    assert.equal(stuck.code, 1);
    assert.match(
      stuck.stderr,
      /did not let go of ada within 500 ms .* The mailbox stays on host main \(the lists say so again\)\n$/,
    );
    assert.equal(await readFile(main.users, "utf8"), before);
    t.diagnostic(
      stuck.stderr
        .split("\n")
        .filter((l) => !l.startsWith("{"))
        .join("\n"),
    );
    const usage = await semailMove(main, [OWNER]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--to: name the host to move the mailbox to/);
  });
});
