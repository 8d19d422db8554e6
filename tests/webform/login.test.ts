// Logins against a real slapd: success, same reply for unknown user and wrong password,
// filter injection, directory down or hung (503), rate limits, CSRF and cookie flags.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test, type TestContext } from "node:test";
import { ldapSettings } from "../../config/sections/ldap.ts";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../config/directory.ts";
import { testDirectoryForFile } from "../helpers/slapd.ts";
import { Client, startForm } from "./helpers.ts";

const ldap = testDirectoryForFile();

/** The visible message of a login reply. */
function alert(text: string): string {
  return /role="alert">([^<]*)</.exec(text)?.[1] ?? "";
}

test("a user logs in, sees the create form, and logs out", async (t) => {
  const form = await startForm(t, { directory: ldap.directory });
  const client = new Client(form.url);
  const first = await client.get("/");
  assert.equal(first.status, 303);
  assert.equal(first.location, "/login");
  const login = await client.login("alice", "alice-Secret1");
  assert.equal(login.status, 303);
  assert.equal(login.location, "/");
  const home = await client.get("/");
  assert.equal(home.status, 200);
  assert.match(home.text, /Signed in as <strong>alice<\/strong>/);
  assert.match(home.text, /Create your mailbox/);
  assert.doesNotMatch(home.text, /All mailboxes/, "alice is not an administrator");
  const out = await client.post("/logout");
  assert.equal(out.status, 303);
  assert.equal((await client.get("/")).status, 303, "the session is gone after logout");
});

test("unknown user and wrong password get the same reply; injection in the login name does not log in", async (t) => {
  const form = await startForm(t, {
    directory: ldap.directory,
    web: { rateLimit: { failuresPerAccount: 100, loginsPerIp: 100 } },
  });
  const replies = [];
  for (const [login, password] of [
    ["alice", "wrong"],
    ["nobody", "alice-Secret1"],
    ["*)(uid=*", "alice-Secret1"],
    ["admin)(|(uid=*", "x"],
    ["*", "*"],
    ["alice)(uid=*", "alice-Secret1"],
    ["admin,ou=people,dc=semail,dc=test", "admin-Secret3"],
  ]) {
    const client = new Client(form.url);
    const reply = await client.login(login!, password!);
    replies.push({ login, status: reply.status, message: alert(reply.text) });
    assert.equal(client.cookies.has("semail-session"), false, `${login} must not get a session`);
  }
  for (const r of replies)
    assert.deepEqual(
      { status: r.status, message: r.message },
      { status: 401, message: "Wrong login name or password." },
      String(r.login),
    );
});

test("an empty password is refused before any bind", async (t) => {
  const form = await startForm(t, { directory: ldap.directory });
  const client = new Client(form.url);
  const reply = await client.login("alice", "");
  assert.equal(reply.status, 400);
  assert.equal(client.cookies.has("semail-session"), false);
});

test("a login name with HTML is shown escaped", async (t) => {
  const form = await startForm(t, { directory: ldap.directory });
  const reply = await new Client(form.url).login(`<script>alert("x")</script>`, "x");
  assert.equal(reply.status, 401);
  assert.doesNotMatch(reply.text, /<script>alert/);
  assert.match(reply.text, /&#60;script&#62;alert/);
});

test("a directory that is down gives a 503 page", async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = createDirectory(ldap.slapd.settings({ url: `ldap://127.0.0.1:${port}` }));
  t.after(() => down.close());
  const form = await startForm(t, { directory: down });
  const reply = await new Client(form.url).login("alice", "alice-Secret1");
  assert.equal(reply.status, 503);
  assert.match(reply.text, /directory \(LDAP\) that checks logins cannot be reached/);
  assert.equal(reply.headers.get("retry-after"), "60");
});

/** A TCP server that accepts LDAP connections and never answers. */
async function hungServer(t: TestContext): Promise<number> {
  const sockets = new Set<Socket>();
  const hung = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => hung.close(resolve));
  });
  return (hung.address() as { port: number }).port;
}

test("a hung directory gives a 503 within 10 s with the default settings", async (t) => {
  const port = await hungServer(t);
  const silent = createDirectory(
    ldapSettings.parse({ ...ldap.slapd.settings(), url: `ldap://127.0.0.1:${port}`, timeoutMs: undefined }),
  );
  t.after(() => silent.close());
  const form = await startForm(t, { directory: silent });
  const started = Date.now();
  const reply = await new Client(form.url).login("alice", "alice-Secret1");
  const elapsed = Date.now() - started;
  assert.equal(reply.status, 503);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
});

test("the form's own deadline answers even when the directory's timeouts are long", async (t) => {
  const port = await hungServer(t);
  const silent = createDirectory(ldap.slapd.settings({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 60_000 }));
  t.after(() => silent.close());
  const form = await startForm(t, { directory: silent, directoryTimeoutMs: 2000 });
  const started = Date.now();
  const reply = await new Client(form.url).login("alice", "alice-Secret1");
  const elapsed = Date.now() - started;
  assert.equal(reply.status, 503);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  assert.ok(elapsed >= 1900, `the deadline, not something else, ended it (${elapsed} ms)`);
});

test("failed logins are limited per account, then allowed again after the window", async (t) => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const form = await startForm(t, {
    directory: ldap.directory,
    clock: () => now,
    web: { rateLimit: { failuresPerAccount: 3, loginsPerIp: 100, windowSeconds: 600 } },
  });
  for (let i = 0; i < 3; i += 1) assert.equal((await new Client(form.url).login("bob", `wrong-${i}`)).status, 401);
  // The right password is refused too while the account is locked: guessing gains nothing.
  const locked = await new Client(form.url).login("bob", "bob-Secret2");
  assert.equal(locked.status, 429);
  assert.match(alert(locked.text), /Too many login attempts\. Wait 10 minutes/);
  assert.equal(locked.headers.get("retry-after"), "600");
  // Other accounts are not affected.
  assert.equal((await new Client(form.url).login("alice", "alice-Secret1")).status, 303);
  now += 601_000;
  assert.equal((await new Client(form.url).login("bob", "bob-Secret2")).status, 303);
});

test("logins are limited per client IP across accounts", async (t) => {
  const form = await startForm(t, {
    directory: ldap.directory,
    web: { rateLimit: { failuresPerAccount: 100, loginsPerIp: 4, windowSeconds: 60 } },
  });
  const statuses = [];
  for (const login of ["u1", "u2", "u3", "u4", "alice"])
    statuses.push((await new Client(form.url).login(login, "x")).status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
});

test("a login without the form's CSRF token is refused", async (t) => {
  const form = await startForm(t, { directory: ldap.directory });
  const client = new Client(form.url);
  await client.get("/login");
  const forged = await client.post("/login", { login: "alice", password: "alice-Secret1", _csrf: "forged" });
  assert.equal(forged.status, 403);
  assert.match(forged.text, /did not come from this site/);
  // A token without its cookie (another browser's) is refused too.
  const other = new Client(form.url);
  const stolen = await other.request("POST", "/login", {
    login: "alice",
    password: "alice-Secret1",
    _csrf: client.csrf,
  });
  assert.equal(stolen.status, 403);
  assert.equal(other.cookies.has("semail-session"), false);
});

test("cookies are Secure, HttpOnly, SameSite=Strict and signed by default", async (t) => {
  const form = await startForm(t, { directory: ldap.directory, web: { secureCookies: true } });
  const client = new Client(form.url);
  const page = await client.get("/login");
  const line = page.headers.getSetCookie().find((c) => c.startsWith("__Host-semail-login="));
  assert.ok(line, "login CSRF cookie set with the __Host- prefix");
  assert.match(line, /; Secure/);
  assert.match(line, /; HttpOnly/);
  assert.match(line, /; SameSite=Strict/);
  assert.match(line, /; Path=\//);
  const login = await client.post("/login", { login: "alice", password: "alice-Secret1" });
  const session = login.headers.getSetCookie().find((c) => c.startsWith("__Host-semail-session="));
  assert.ok(session);
  assert.match(session, /; Secure; SameSite=Strict|; SameSite=Strict; Secure/);
  assert.match(session, /; HttpOnly/);
  // A tampered session id is not a session.
  const value = client.cookies.get("__Host-semail-session")!;
  client.cookies.set(
    "__Host-semail-session",
    value.replace(/^./, (c) => (c === "a" ? "b" : "a")),
  );
  assert.equal((await client.get("/")).status, 303);
});

test("pages carry a strict Content-Security-Policy", async (t) => {
  const form = await startForm(t, { directory: ldap.directory });
  const page = await new Client(form.url).get("/login");
  assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'.*script-src 'self'/);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
});

test("a session ends after the idle time", async (t) => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const form = await startForm(t, { directory: ldap.directory, clock: () => now, web: { sessionIdleMinutes: 30 } });
  const client = new Client(form.url);
  assert.equal((await client.login("alice", "alice-Secret1")).status, 303);
  now += 29 * 60_000;
  assert.equal((await client.get("/")).status, 200, "used within the idle time");
  now += 29 * 60_000;
  assert.equal((await client.get("/")).status, 200, "each request restarts the idle time");
  now += 31 * 60_000;
  assert.equal((await client.get("/")).status, 303, "idle too long");
  const post = await client.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" });
  assert.equal(post.status, 403);
  assert.match(post.text, /Your session has ended/);
});

test("requests of any kind are limited per client IP", async (t) => {
  const form = await startForm(t, { directory: ldap.directory, web: { rateLimit: { requestsPerMinute: 10 } } });
  const statuses = [];
  for (let i = 0; i < 12; i += 1) statuses.push((await new Client(form.url).get("/login")).status);
  assert.deepEqual(statuses, [...Array(10).fill(200), 429, 429]);
});

test("an administrator removed from the group loses admin writes at once", async (t) => {
  let stillAdmin = true;
  const wrapped: Directory = {
    authenticate: (uid, password) => ldap.directory.authenticate(uid, password),
    isAdmin: async (uid) => stillAdmin && (await ldap.directory.isAdmin(uid)),
    close: async () => undefined,
  };
  const form = await startForm(t, { directory: wrapped });
  await form.store.update(() => [{ owner: "bob", address: "bob@bob.semail.test" }]);
  const admin = new Client(form.url);
  assert.equal((await admin.login("admin", "admin-Secret3")).status, 303);
  assert.equal((await admin.get("/admin")).status, 200);
  stillAdmin = false;
  const refused = await admin.post("/admin/delete", { owner: "bob" });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /Administrators only/);
  assert.equal((await form.store.read()).mailboxes.length, 1);
});
