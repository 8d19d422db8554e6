// `semail start` running (a real child process, every part up): Alice's mailbox page shows
// this machine's own submission port and mbox file, a message goes from Alice to herself
// through both daemons, then Ctrl-C. The terminal must say what was stopped, part by part,
// and every line of the log file must be JSON with unique keys (JSON.parse and jq keep only
// the last of two equal keys).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createTransport } from "nodemailer";
import { promisify } from "node:util";
import { execFile } from "node:child_process";
import { parse } from "yaml";
import { mailUid } from "../../config/mail-uid.ts";
import { duplicateKeys } from "../helpers/json-keys.ts";
import { Client } from "../webform/helpers.ts";
import { until } from "../../testkit/until.ts";
import { isRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");
const SEMAIL = join(ROOT, "bin/semail.mjs");

let dataDir: string;
let child: ChildProcess;
let stdout = "";
let stderr = "";
let exitCode: number | null;
let submission: number;
/** inbound.submission.listen of the settings semail start wrote. */
let inboundSubmission: string[];
let mailboxPage: string;
let subjectsOverImap: string[] | string;
let webmailPage: { status: number; text: string } | undefined;

/** Alice's INBOX subjects over IMAPS, as a mail client sees them (Python's imaplib). */
async function imapSubjects(port: number, password: string): Promise<string[]> {
  const script = `
import imaplib, ssl, json, os, email
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["PORT"]), ssl_context=ctx, timeout=30)
m.login("alice", os.environ["PASSWORD"])
m.select("INBOX", readonly=True)
_, ids = m.search(None, "ALL")
out = []
for i in ids[0].split():
    _, data = m.fetch(i, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out.append(email.message_from_bytes(data[0][1])["Subject"])
print(json.dumps(out))
`;
  const { stdout } = await run("python3", ["-c", script], {
    env: { ...process.env, PORT: String(port), PASSWORD: password },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as string[];
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "semail-start-run-"));
  await writeFile(join(dataDir, "users.yaml"), "mailboxes:\n  - owner: alice\n    address: alice@alice.semail.test\n");
  child = spawn(
    process.execPath,
    [SEMAIL, "start", "--data-dir", dataDir, "--free-ports", "--no-images", "--no-containers"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  const readyFile = join(dataDir, "ready.json");
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`semail start exited ${child.exitCode}: ${stdout}${stderr}`);
      return (await readFile(readyFile, "utf8").catch(() => "")).endsWith("\n");
    },
    () => `semail start to be ready: ${stdout}${stderr}`,
    90_000,
  );
  const { passwords } = JSON.parse(await readFile(readyFile, "utf8")) as { passwords: Record<string, string> };
  const settings = parse(await readFile(join(dataDir, "semail.yaml"), "utf8")) as {
    inbound: { submission: { listen: string[] } };
    outbound: { listen: string[] };
    web: { listen: string };
    imap: { imapsPort: number };
    webmail: { listen: string };
  };

  // Alice's page on the form and one message through both daemons, so every part logs.
  const client = new Client(`http://${settings.web.listen}`);
  assert.equal((await client.login("alice", passwords.alice!)).status, 303);
  mailboxPage = (await client.get("/")).text;
  inboundSubmission = settings.inbound.submission.listen;
  submission = Number(settings.outbound.listen[0]!.split(":").at(-1));
  const transport = createTransport({
    host: "127.0.0.1",
    port: submission,
    secure: false,
    ignoreTLS: true,
    auth: { user: "alice", pass: passwords.alice! },
  });
  const alice = "alice@alice.semail.test";
  await transport.sendMail({
    envelope: { from: alice, to: [alice] },
    from: alice,
    to: alice,
    subject: "Note to self",
    text: "x\n",
  });
  const log = join(dataDir, "semail.log");
  await until(
    async () => (await readFile(join(dataDir, "mail/alice/INBOX"), "utf8").catch(() => "")).includes("Note to self"),
    "the message in Alice's INBOX",
    30_000,
  );
  await until(
    async () => (await readFile(log, "utf8")).includes('"message done"'),
    "the outbound queue to log the delivery",
    30_000,
  );
  // As root, Dovecot serves the same files over IMAP.
  subjectsOverImap = isRoot ? await imapSubjects(settings.imap.imapsPort, passwords.alice!) : "not root: no Dovecot";
  if (isRoot) {
    const reply = await fetch(`http://${settings.webmail.listen}/`, { signal: AbortSignal.timeout(30_000) });
    webmailPage = { status: reply.status, text: await reply.text() };
  }

  child.kill("SIGINT");
  exitCode = await exited;
});

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test("Ctrl-C says on the terminal what it stopped, each part in turn", () => {
  assert.equal(exitCode, 0, stdout + stderr);
  const stopping = stdout.indexOf("Stopping SEMail");
  assert.ok(stopping > 0, `the terminal says it is stopping:\n${stdout}`);
  const lines = stdout.slice(stopping).trim().split("\n");
  const parts = [
    /users list/,
    /web form \(http:\/\/127\.0\.0\.1:\d+\/\)/,
    /outbound daemon \(submission on 127\.0\.0\.1:\d+\)/,
    /inbound daemon \(127\.0\.0\.1:\d+/,
    /named \(DNS on 127\.0\.0\.1:\d+\)/,
    /slapd \(LDAP on 127\.0\.0\.1:\d+\)/,
  ];
  // In this order: the form before the daemons it reloads, the daemons before named and slapd they use.
  let last = 0;
  for (const part of parts) {
    const at = lines.findIndex((l) => /^ {2}stopped /.test(l) && part.test(l));
    assert.ok(at > last, `a line "stopped ${part.source}" after line ${last}:\n${lines.join("\n")}`);
    last = at;
  }
  assert.match(
    lines.at(-1)!,
    new RegExp(`^SEMail is stopped; its data stays in ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
  );
  assert.equal(stderr, "", "nothing on stderr");
});

test("every line semail start logged is JSON with unique keys", async () => {
  assert.deepEqual(
    duplicateKeys('{"a":{"b":1,"b":2},"a":[{"c":1,"c":1}]}'),
    ["a.b", "a", "a.0.c"],
    "the check itself finds duplicates",
  );
  const lines = (await readFile(join(dataDir, "semail.log"), "utf8")).trimEnd().split("\n");
  const parts = new Set<string>();
  for (const [n, line] of lines.entries()) {
    assert.deepEqual(duplicateKeys(line), [], `line ${n + 1} repeats a key: ${line}`);
    const entry = JSON.parse(line) as Record<string, unknown>;
    for (const key of ["service", "part", "component"])
      if (typeof entry[key] === "string") parts.add(`${key}=${entry[key]}`);
  }
  // The lines checked come from every part, nested ones included.
  for (const part of [
    "service=slapd",
    "service=named",
    "service=inbound",
    "service=outbound",
    "service=web",
    "part=send",
    "part=queue",
  ]) {
    assert.ok(parts.has(part), `a line from ${part} (seen: ${[...parts].join(", ")})`);
  }
});

test("the mailbox page shows local mode's own submission port and mbox file, not production's", () => {
  const text = mailboxPage
    .replace(/<[^>]+>/g, "")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
  assert.match(
    text,
    new RegExp(`Outgoing server \\(SMTP submission\\) 127\\.0\\.0\\.1, port ${submission}\\. Log in as alice`),
  );
  assert.ok(text.includes(`mutt -f ${join(dataDir, "mail/alice/INBOX")}`), text);
  assert.doesNotMatch(text, /semail-outbound|ssh -J/);
});

test("the banner names the inbound daemon's submission ports for mail programs (STARTTLS, TLS), with the certificate local mode made", async () => {
  const port = (tls: boolean) =>
    inboundSubmission
      .find((l) => l.startsWith("127.0.0.1:") && l.endsWith("/tls") === tls)
      ?.replace(/^127\.0\.0\.1:(\d+).*$/, "$1");
  assert.match(
    stdout,
    new RegExp(
      `submission TLS  127\\.0\\.0\\.1:${port(false)} \\(STARTTLS\\), :${port(true)} \\(TLS\\)   \\(as 587 and 465: AUTH after TLS`,
    ),
    stdout,
  );
  assert.match(stdout, /inbound SMTP {4}127\.0\.0\.1:\d+ {8}\(MX of \*\.semail\.test; no AUTH\)/);
  assert.ok((await stat(join(dataDir, "tls", "cert.pem"))).isFile(), "the local certificate");
});

test("without containers the banner says so once, and as root a plain mailbox root is its owner's own uid", async () => {
  assert.equal(stdout.match(/Users' containers: none \(started with --no-containers\)/g)?.length, 1, stdout);
  if (!isRoot) return;
  for (const path of ["", "INBOX", "mail"]) {
    const { uid, gid } = await stat(join(dataDir, "mail/alice", path));
    assert.deepEqual([uid, gid], [mailUid("alice"), mailUid("alice")], `mail/alice/${path}`);
  }
});

test("as root, Dovecot serves Alice's mail over IMAPS with her LDAP login, and Ctrl-C stops it", (t) => {
  if (typeof subjectsOverImap === "string") return t.skip(subjectsOverImap);
  assert.deepEqual(subjectsOverImap, ["Note to self"]);
  assert.match(stdout, /stopped Dovecot \(IMAP 127\.0\.0\.1:\d+ STARTTLS, IMAPS :\d+, POP3S :\d+\)/);
  assert.match(stdout, /IMAP \/ POP3 {5}127\.0\.0\.1:\d+ \(STARTTLS\)/, "the banner names the IMAP ports");
});

test("as root, the webmail answers with Roundcube's login, and the mailbox page links to it", (t) => {
  if (webmailPage === undefined) return t.skip("not root: no Dovecot, no webmail");
  assert.equal(webmailPage.status, 200);
  assert.match(webmailPage.text, /rcmloginuser|roundcube/i);
  assert.match(
    mailboxPage,
    /<dt>Webmail<\/dt>\s*<dd><a href="http:\/\/127\.0\.0\.1:\d+\/\?_user&#61;alice%40alice\.semail\.test">/,
  );
  assert.match(stdout, /stopped the webmail \(http:\/\/127\.0\.0\.1:\d+\/\)/);
});
