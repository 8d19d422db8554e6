// The From: and Sender: rule on its own, case by case: only the user's live addresses, by
// whatever route a reader could show another (a second address, a display name, an encoded
// word, a parser's disagreement, group syntax, a second field).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseUsersList } from "../../../config/users-list.ts";
import { checkHeaderIdentity, decodeEncodedWords } from "../../../mailservers/outbound/header-identity.ts";
import { SmtpError } from "../../../mailservers/core/types.ts";

const users = parseUsersList(
  `mailboxes:
  - {owner: alice, address: alice@semail.test}
  - {owner: bob, address: bob@bob.semail.test}
  - {owner: admin, address: carol@carol.example, pendingProof: 0123456789abcdef0123456789abcdef}
`,
  { managedDomain: "semail.test", defaultSize: 1024 ** 3, minSize: 1024 ** 2 },
);

/** alice's verdict on a header block given as lines: "ok" with whether From: is there, or the refusal's code and text. */
function verdict(lines: readonly string[], user = "alice"): string {
  const header = Buffer.from(lines.map((l) => `${l}\r\n`).join(""), "utf8");
  try {
    return checkHeaderIdentity(header, user, users).hasFrom ? "ok" : "ok, no From";
  } catch (err) {
    assert.ok(err instanceof SmtpError, String(err));
    return `${err.responseCode} ${err.message}`;
  }
}

describe("checkHeaderIdentity", () => {
  it("takes the user's own address in every usual spelling", () => {
    for (const from of [
      "alice@semail.test",
      "<alice@semail.test>",
      "Alice Liddell <alice@semail.test>",
      '"Liddell, Alice" <ALICE@Semail.TEST>',
      "=?utf-8?q?Al=C3=AFce?= <alice@semail.test>",
      "Alice (alice@semail.test) <alice@semail.test>",
      "Alice@Home <alice@semail.test>",
    ]) {
      assert.equal(verdict([`From: ${from}`, "Subject: x"]), "ok", from);
    }
    assert.equal(
      verdict(["FROM :Alice", " <alice@semail.test>", "Sender: alice@semail.test"]),
      "ok",
      "folded, obsolete spacing, a Sender of her own",
    );
    assert.equal(verdict(["Subject: no From", "To: bob@bob.semail.test"]), "ok, no From");
  });

  it("refuses another's address with 550 5.7.1 naming it", () => {
    assert.equal(
      verdict(["From: ceo@gmail.com"]),
      "550 5.7.1 From: address <ceo@gmail.com> is not an address of alice",
    );
    assert.equal(
      verdict(["From: Bob <bob@bob.semail.test>"]),
      "550 5.7.1 From: address <bob@bob.semail.test> is not an address of alice",
    );
    assert.equal(
      verdict(["From: alice@semail.test, ceo@gmail.com"]),
      "550 5.7.1 From: address <ceo@gmail.com> is not an address of alice",
      "one foreign address of two",
    );
    assert.equal(
      verdict(["From: alice@semail.test", "Sender: ceo@gmail.com"]),
      "550 5.7.1 Sender: address <ceo@gmail.com> is not an address of alice",
    );
    assert.equal(
      verdict([" From: ceo@gmail.com", "Subject: x"]),
      "550 5.7.1 From: address <ceo@gmail.com> is not an address of alice",
      "an indented first line, which some readers take as a field",
    );
    assert.match(
      verdict(["From: carol@carol.example"], "admin"),
      /^550 5\.7\.1 From: address <carol@carol\.example> is not usable yet: admin has not proven control of carol\.example/,
    );
  });

  it("refuses another's address shown in a display name, a comment, an encoded word or a look-alike @", () => {
    for (const from of [
      '"ceo@gmail.com" <alice@semail.test>',
      "ceo\\@gmail.com <alice@semail.test>",
      "alice@semail.test (ceo@gmail.com)",
      "=?utf-8?q?ceo=40gmail.com?= <alice@semail.test>",
      "=?UTF-8?B?Y2VvQGdtYWlsLmNvbQ==?= <alice@semail.test>",
      "ceo\uFF20gmail.com <alice@semail.test>",
      // Parsed as alice with the name "ceo@gmail.com" by nodemailer; another reader may take the second.
      "<alice@semail.test><ceo@gmail.com>",
      "alice@semail.test ceo@gmail.com",
    ]) {
      assert.equal(
        verdict([`From: ${from}`]),
        "550 5.7.1 From: header shows ceo@gmail.com, which is not an address of alice",
        from,
      );
    }
  });

  it("refuses a From: that names no one clearly with 550 5.6.0", () => {
    const hint = ": use your address, alice@semail.test";
    assert.equal(
      verdict(["From: undisclosed:;"]),
      `550 5.6.0 From: uses group syntax (undisclosed:...;), which names no sender${hint}`,
    );
    assert.equal(
      verdict(["From: team: alice@semail.test;"]),
      `550 5.6.0 From: uses group syntax (team:...;), which names no sender${hint}`,
    );
    for (const from of ["", "Alice", "=?utf-8?q?ceo=40gmail.com?=", "<>"]) {
      assert.equal(verdict([`From: ${from}`]), `550 5.6.0 From: header names no address${hint}`, JSON.stringify(from));
    }
    assert.equal(
      verdict(["From: alice@semail.test", "Subject: x", "from: alice@semail.test"]),
      "550 5.6.0 The message has 2 From: headers, which readers show differently; keep one",
    );
    assert.equal(
      verdict(["From: alice@semail.test", "Sender: alice@semail.test", "Sender: alice@semail.test"]),
      "550 5.6.0 The message has 2 Sender: headers, which readers show differently; keep one",
    );
    assert.equal(
      verdict(["From: admin:;"], "admin"),
      "550 5.6.0 From: uses group syntax (admin:...;), which names no sender",
      "no hint while the user's address is pending",
    );
  });

  it("fields that only look alike are not From:", () => {
    assert.equal(
      verdict([
        "X-Original-From: ceo@gmail.com",
        "Resent-From: alice@semail.test",
        "From: alice@semail.test",
        "Reply-To: ceo@gmail.com",
      ]),
      "ok",
    );
  });
});

describe("decodeEncodedWords", () => {
  it("decodes B and Q words in the charset named, and leaves an unknown charset as written", () => {
    assert.equal(decodeEncodedWords("=?ISO-8859-1?Q?Andr=E9_P?= x"), "André P x");
    assert.equal(decodeEncodedWords("=?utf-8*fr?B?w6ljb2xl?="), "école");
    assert.equal(decodeEncodedWords("=?x-no-such-charset?Q?a?="), "=?x-no-such-charset?Q?a?=");
  });
});
