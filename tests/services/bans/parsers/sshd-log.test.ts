// OpenSSH's lines as syslog (auth.log) and journalctl -o cat write them (sshd-real.test.ts
// reads a real sshd's).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSshdLine } from "../../../../services/bans/parsers/sshd-log.ts";

test("failed passwords and keys, for any account, the MaxAuthTries cut-off and an abandoned login", () => {
  const lines: Array<[string, { address: string; reason: string }]> = [
    [
      "Dec  7 22:03:01 vm sshd[4812]: Failed password for jump from 192.0.2.9 port 51312 ssh2",
      { address: "192.0.2.9", reason: "ssh password failed" },
    ],
    [
      "Failed publickey for jump from 2001:db8::9 port 40022 ssh2: ED25519 SHA256:Ebs1N0tvI0xV3uDiQgyq+Wk0bM1x7b4s2rUJ2XsbK3Q",
      { address: "2001:db8::9", reason: "ssh publickey failed" },
    ],
    [
      "Dec  7 22:03:05 vm sshd[4813]: Failed password for invalid user admin from 198.51.100.3 port 60000 ssh2",
      { address: "198.51.100.3", reason: "ssh password failed" },
    ],
    [
      "Dec  7 22:03:09 vm sshd-session[4814]: error: maximum authentication attempts exceeded for jump from 198.51.100.3 port 60002 ssh2 [preauth]",
      { address: "198.51.100.3", reason: "ssh attempts limit" },
    ],
    [
      "Dec  7 22:04:01 vm sshd[4815]: Connection closed by authenticating user jump 192.0.2.9 port 51316 [preauth]",
      { address: "192.0.2.9", reason: "ssh login abandoned" },
    ],
    [
      "Connection closed by invalid user admin 2001:db8::9 port 51318 [preauth]",
      { address: "2001:db8::9", reason: "ssh login abandoned" },
    ],
  ];
  for (const [line, want] of lines) {
    const failure = parseSshdLine(line);
    assert.deepEqual(failure && { address: failure.address, reason: failure.reason }, want, line);
  }
});

test("lines that repeat a failure already read, or are none (a connection that never tried), count nothing", () => {
  for (const line of [
    "Dec  7 22:03:05 vm sshd[4813]: Invalid user admin from 198.51.100.3 port 60000",
    "Dec  7 22:03:09 vm sshd[4814]: Disconnecting authenticating user jump 198.51.100.3 port 60002: Too many authentication failures [preauth]",
    "Dec  7 22:04:00 vm sshd[4815]: Accepted publickey for jump from 192.0.2.9 port 51314 ssh2: ED25519 SHA256:x",
    "Dec  7 22:04:02 vm sshd[4816]: Connection closed by 192.0.2.9 port 51320 [preauth]",
  ])
    assert.equal(parseSshdLine(line), undefined, line);
});
