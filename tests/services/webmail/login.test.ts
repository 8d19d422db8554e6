// Logging in to the webmail by mailbox address, over HTTP as a browser's form does it,
// against real slapd, Dovecot and Roundcube: alice's address logs her in as alice (the
// same Roundcube user as her uid), in any case; an address that is no live mailbox's
// (another domain, a pending claim) and a wrong password are refused. The web form's link
// to it fills in the address as the login name.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DatabaseSync } from "node:sqlite";
import { webmailLoginUrl } from "../../../services/webmail/config.ts";
import { webmailPaths } from "../../../services/webmail/roundcube.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { CAROL } from "../imap/fixture.ts";
import { startWebmailFixture } from "./fixture.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;

/** Posts Roundcube's login form as a browser would (its cookie and request token first); answers where it leads. */
async function logIn(
  url: string,
  user: string,
  password: string,
): Promise<{ status: number; location: string; body: string }> {
  const page = await fetch(url);
  const cookie = page.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const token = /name="_token" value="([^"]+)"/.exec(await page.text())?.[1];
  assert.ok(token, "the login page carries a request token");
  const answer = await fetch(`${url}?_task=login`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      _token: token,
      _task: "login",
      _action: "login",
      _timezone: "UTC",
      _url: "",
      _user: user,
      _pass: password,
    }),
  });
  return { status: answer.status, location: answer.headers.get("location") ?? "", body: await answer.text() };
}

test("webmail: a live mailbox address logs its owner in; other addresses and wrong passwords do not; the form's link fills the address in", {
  skip: needsRoot,
  timeout: 180_000,
}, async (t) => {
  const { webmail, stateDir } = await startWebmailFixture(t);
  // The mailbox page links here (Roundcube has no setting for a hint on its login page).
  const prefilled = await (await fetch(webmailLoginUrl(webmail.url, "alice@alice.semail.test"))).text();
  const userField = /<input[^>]*id="rcmloginuser"[^>]*>/.exec(prefilled)?.[0] ?? "";
  assert.match(userField, /value="alice@alice\.semail\.test"/, `the login name is filled in: ${userField}`);
  const cases = {
    uid: await logIn(webmail.url, "alice", ALICE),
    address: await logIn(webmail.url, "alice@alice.semail.test", ALICE),
    upper: await logIn(webmail.url, "Alice@ALICE.semail.test", ALICE),
    wrong: await logIn(webmail.url, "alice@alice.semail.test", "not-her-password"),
    otherDomain: await logIn(webmail.url, "alice@other.example", ALICE),
    pending: await logIn(webmail.url, "carol@carol.example", CAROL.password),
  };
  for (const key of ["uid", "address", "upper"] as const) {
    assert.equal(cases[key].status, 302, `${key}: ${cases[key].body.slice(0, 200)}`);
    assert.match(cases[key].location, /_task=mail/, key);
  }
  for (const key of ["wrong", "otherDomain", "pending"] as const) {
    assert.notEqual(cases[key].status, 302, key);
    assert.match(cases[key].body, /Login failed/, key);
  }
  // One Roundcube user for alice however she typed her login: the address became her uid.
  const db = new DatabaseSync(webmailPaths(stateDir).database, { readOnly: true });
  t.after(() => db.close());
  const users = db
    .prepare("SELECT username FROM users ORDER BY username")
    .all()
    .map((r) => r.username);
  assert.deepEqual(users, ["alice"]);
});
