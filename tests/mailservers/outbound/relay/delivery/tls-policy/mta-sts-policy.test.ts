// MTA-STS text (RFC 8461): the TXT record, the policy file, and mx pattern matching.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  mxMatches,
  parseStsPolicy,
  parseStsRecord,
  policyAllows,
} from "../../../../../../mailservers/outbound/relay/delivery/tls-policy/mta-sts-policy.ts";

describe("the _mta-sts TXT record", () => {
  test("the id of the one STSv1 record, its strings joined", () => {
    assert.deepEqual(parseStsRecord([["v=STSv1; id=20160831085700Z;"]]), { id: "20160831085700Z" });
    assert.deepEqual(parseStsRecord([["v=STSv1; ", "id=abc123"], ["some other record"]]), { id: "abc123" });
    assert.deepEqual(parseStsRecord([["v=STSv1;id=x1;extension=ignored"]]), { id: "x1" });
  });

  test("none, two, a bad id or a wrong version: no record", () => {
    assert.equal(parseStsRecord([]), undefined);
    assert.equal(parseStsRecord([["v=spf1 -all"]]), undefined);
    assert.equal(parseStsRecord([["v=STSv1; id=1"], ["v=STSv1; id=2"]]), undefined);
    assert.equal(parseStsRecord([["v=STSv1; id=not-alnum!"]]), undefined);
    assert.equal(parseStsRecord([[`v=STSv1; id=${"a".repeat(33)}`]]), undefined);
    assert.equal(parseStsRecord([["v=STSv1;"]]), undefined);
    assert.equal(parseStsRecord([["id=1; v=STSv1"]]), undefined);
  });
});

describe("the policy file", () => {
  test("a valid policy, LF or CRLF, with unknown keys ignored", () => {
    const text =
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET.\r\nmax_age: 604800\r\nfuture: x\r\n";
    assert.deepEqual(parseStsPolicy(text), {
      mode: "enforce",
      mx: ["mail.example.com", "*.example.net"],
      maxAge: 604800,
    });
    assert.deepEqual(parseStsPolicy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 86400\n").mode, "testing");
    assert.deepEqual(parseStsPolicy("version: STSv1\nmode: none\nmax_age: 0\n"), { mode: "none", mx: [], maxAge: 0 });
  });

  test("max_age above a year counts as a year", () => {
    assert.equal(parseStsPolicy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 9999999999\n").maxAge, 31557600);
  });

  test("invalid policies say what is wrong", () => {
    const bad: [string, RegExp][] = [
      ["mode: enforce\nmx: a.test\nmax_age: 1\n", /version/],
      ["version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n", /version/],
      ["version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n", /mode "strict"/],
      ["version: STSv1\nmode: enforce\nmx: a.test\n", /max_age/],
      ["version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5\n", /max_age/],
      ["version: STSv1\nmode: enforce\nmax_age: 86400\n", /names no mx/],
      ["version: STSv1\nmode: enforce\nmx: mail.*.test\nmax_age: 86400\n", /mx "mail\.\*\.test"/],
      ["version: STSv1\nmode: enforce\nmx: **.test\nmax_age: 86400\n", /mx/],
      ["<html>version: STSv1</html>\n", /key: value|version/],
      ["version: STSv1\nthis line has no colon\n", /not "key: value"/],
    ];
    for (const [text, problem] of bad) assert.throws(() => parseStsPolicy(text), problem, text);
  });
});

describe("mx patterns", () => {
  test("an exact name matches itself, in any case and with a trailing dot", () => {
    assert.equal(mxMatches("mail.example.com", "MAIL.example.com."), true);
    assert.equal(mxMatches("mail.example.com", "mail2.example.com"), false);
    assert.equal(mxMatches("mail.example.com", "example.com"), false);
  });

  test("a wildcard stands for exactly one leftmost label", () => {
    assert.equal(mxMatches("*.example.com", "mx1.example.com"), true);
    assert.equal(mxMatches("*.example.com", "example.com"), false);
    assert.equal(mxMatches("*.example.com", "a.b.example.com"), false);
    assert.equal(mxMatches("*.example.com", "mx1.example.org"), false);
    assert.equal(mxMatches("*.example.com", "mx1.badexample.com"), false);
  });

  test("a host is allowed when any pattern matches", () => {
    const policy = { mx: ["mail.example.com", "*.backup.example.net"] };
    assert.equal(policyAllows(policy, "mail.example.com"), true);
    assert.equal(policyAllows(policy, "b1.backup.example.net"), true);
    assert.equal(policyAllows(policy, "evil.example.com"), false);
  });
});
