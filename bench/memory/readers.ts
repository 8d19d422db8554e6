// What users do besides mail arriving and leaving, so Dovecot, PHP and the web form have
// worked before they are measured idle: an IMAP login that opens the inbox and fetches its
// newest messages (Python's imaplib, as the IMAP tests use), a webmail login that lists the
// inbox, and a web form login that loads the mailbox page.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { HttpSession } from "../lib/http-session.ts";
import type { BenchUser, Stack } from "./stack.ts";

const run = promisify(execFile);

const FETCH = `
import imaplib, ssl, sys, json
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=ctx, timeout=300)
m.login(sys.argv[3], sys.argv[4])
typ, data = m.select("INBOX", readonly=True)
n = int(data[0])
typ, got = m.fetch("%d:%d" % (max(1, n - 19), n), "(RFC822)")
size = sum(len(part[1]) for part in got if isinstance(part, tuple))
m.logout()
print(json.dumps({"messages": n, "fetchedBytes": size}))
`;

/** Logs in over IMAPS, opens INBOX, fetches its 20 newest messages; returns how many it holds. */
export async function imapFetch(stack: Stack, user: BenchUser): Promise<number> {
  const { stdout } = await run(
    "python3",
    ["-c", FETCH, stack.imap.host, String(stack.imap.ports.imaps), user.owner, user.password],
    { timeout: 600_000 },
  );
  const result = JSON.parse(stdout.trim()) as { messages: number; fetchedBytes: number };
  if (result.fetchedBytes === 0) throw new Error(`IMAP: nothing fetched from ${user.owner}'s INBOX`);
  return result.messages;
}

function expectStatus(what: string, page: { status: number; text: string }, status: number): void {
  if (page.status !== status)
    throw new Error(`${what}: HTTP ${page.status} (expected ${status}): ${page.text.slice(0, 300)}`);
}

/** Roundcube: the login page, a login (through Dovecot), the inbox page and its message list. */
export async function webmailListing(stack: Stack, user: BenchUser): Promise<void> {
  const session = new HttpSession(stack.webmail.url);
  const login = await session.get("/?_task=login");
  expectStatus("webmail login page", login, 200);
  const token = /name="_token" value="([^"]+)"/.exec(login.text)?.[1];
  if (!token) throw new Error("webmail login page: no _token");
  const loggedIn = await session.post("/?_task=login", {
    _token: token,
    _task: "login",
    _action: "login",
    _timezone: "UTC",
    _url: "",
    _user: user.owner,
    _pass: user.password,
  });
  if (loggedIn.status !== 302 || !/_task=mail/.test(loggedIn.location ?? ""))
    throw new Error(
      `webmail login of ${user.owner}: HTTP ${loggedIn.status} to ${loggedIn.location}: ${loggedIn.text.slice(0, 300)}`,
    );
  const inbox = await session.get("/?_task=mail&_mbox=INBOX");
  expectStatus("webmail inbox page", inbox, 200);
  const requestToken = /"request_token":"([^"]+)"/.exec(inbox.text)?.[1];
  if (!requestToken) throw new Error("webmail inbox page: no request_token");
  const list = await session.get("/?_task=mail&_action=list&_mbox=INBOX&_page=1&_remote=1", {
    "x-roundcube-request": requestToken,
  });
  expectStatus("webmail message list", list, 200);
  if (!/add_message_row/.test(list.text))
    throw new Error(`webmail message list: no messages listed: ${list.text.slice(0, 300)}`);
}

/** The web form: its login (an LDAP bind) and the mailbox page. */
export async function webFormLogin(stack: Stack, user: BenchUser): Promise<void> {
  const session = new HttpSession(`http://${stack.settings.web.listen.spec}`);
  const page = await session.get("/login");
  expectStatus("web form login page", page, 200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? "";
  const loggedIn = await session.post("/login", { _csrf: csrf, login: user.owner, password: user.password });
  expectStatus(`web form login of ${user.owner}`, loggedIn, 303);
  expectStatus("web form mailbox page", await session.get("/"), 200);
}

/** Each reader once, for the first user. */
export async function readAsUsers(stack: Stack): Promise<void> {
  const [first] = stack.users;
  await imapFetch(stack, first!);
  await webmailListing(stack, first!);
  await webFormLogin(stack, first!);
}
