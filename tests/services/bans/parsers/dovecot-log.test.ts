// Dovecot 2.3's login lines as its log file, journald (-o cat) and docker logs write them; the
// first of each list captured from Dovecot 2.3.19 (dovecot-real.test.ts drives a real one).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDovecotLine } from "../../../../services/bans/parsers/dovecot-log.ts";

test("a login process's failed connection counts its attempts, from rip", () => {
  const lines: Array<[string, { address: string; count: number }]> = [
    [
      "Dec 07 22:03:37 imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=192.0.2.7, lip=127.0.0.1, TLS: Connection closed, session=<oDSwZRJiX61/AQAB>",
      { address: "192.0.2.7", count: 1 },
    ],
    [
      "imap-login: Info: Aborted login (auth failed, 3 attempts in 12 secs): user=<alice@semail.test>, method=LOGIN, rip=2001:db8::7, lip=2001:db8::1, TLS, session=<abc>",
      { address: "2001:db8::7", count: 3 },
    ],
    [
      "pop3-login: Info: Disconnected: Connection closed (auth failed, 2 attempts in 4 secs): user=<x>, method=PLAIN, rip=::ffff:198.51.100.4, lip=::ffff:198.51.100.1, TLS: Connection closed, session=<def>",
      { address: "198.51.100.4", count: 2 },
    ],
  ];
  for (const [line, want] of lines) {
    const failure = parseDovecotLine(line);
    assert.deepEqual(failure && { address: failure.address, count: failure.count }, want, line);
    assert.equal(failure?.reason, "dovecot auth failed");
  }
});

test("logins, plain disconnects and the auth process's per-attempt lines are not failures", () => {
  for (const line of [
    "Dec 07 22:03:35 auth: Info: ldap(alice,127.1.0.1,<oDSwZRJiX61/AQAB>): Password mismatch (for LDAP bind)",
    "Dec 07 22:03:34 imap-login: Info: Disconnected: Connection closed (disconnected before auth was ready, waited 0 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, TLS handshaking: Connection closed, session=<ryOoZRJiTNF/AAAB>",
    "imap-login: Info: Login: user=<bob>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.1, mpid=812, TLS, session=<x>",
    "imap-login: Info: Disconnected (no auth attempts in 0 secs): user=<>, rip=192.0.2.7, lip=192.0.2.1, session=<y>",
    "auth: ldap(bob,192.0.2.7,<x>): invalid credentials (given password: )",
    "imap(bob)<812><x>: Info: Disconnected: Logged out in=40 out=500",
  ])
    assert.equal(parseDovecotLine(line), undefined, line);
});
