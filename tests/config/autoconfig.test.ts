// The autoconfig renderer (config/autoconfig.ts), shared by the web form and the Pulumi
// program: the document read by a real XML parser, the domain asked about, and the files the
// VM's webmail serves: one per live mail domain, named so nothing else can be.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  askedDomain,
  autoconfigFileName,
  autoconfigFiles,
  autoconfigXml,
  notServedText,
} from "../../config/autoconfig.ts";
import { mailHostName, STANDARD_MAIL_CLIENT_PORTS } from "../../config/mail-clients.ts";
import { parseUsersList } from "../../config/users-list.ts";
import { parseAutoconfig } from "../webform/autoconfig-xml.ts";

test("the document escapes what it carries, and the parser refuses one that is not well-formed", async () => {
  const ports = { imap: 143, imaps: 993, pop3s: 995, submission: 587, submissions: 465 };
  const config = await parseAutoconfig(autoconfigXml("a.example", `x"&<y>'`, { host: "mx&<co>.example", ports }));
  assert.equal(config.provider, `x"&<y>'`);
  assert.equal(config.incoming[0]!.hostname, "mx&<co>.example");
  await assert.rejects(
    parseAutoconfig('<clientConfig version="1.1"><emailProvider id="&"></clientConfig>'),
    /not a clientConfig document/,
  );
  assert.equal(askedDomain("Bob@Example.ORG.", "ignored"), "example.org");
  assert.equal(askedDomain(undefined, "autoconfig.Example.org:443"), "example.org");
  assert.equal(askedDomain("no-at-sign", "example.org"), "example.org");
});

test("one file per live mail domain, the managed domain only with a mailbox on it, never a pending claim's", async () => {
  const options = { managedDomain: "semail.test", defaultSize: 1024 ** 3, minSize: 1024 ** 2 };
  const list = parseUsersList(
    [
      "mailboxes:",
      "  - {owner: alice, address: alice@alice.semail.test}",
      "  - {owner: bob, address: Bob@Example.ORG}",
      "  - {owner: carol, address: carol@carol.example, pendingProof: 0123456789abcdef0123}",
      "  - {owner: dave, address: dave@alice.semail.test}",
      "",
    ].join("\n"),
    options,
  );
  const servers = { host: mailHostName("semail.test"), ports: STANDARD_MAIL_CLIENT_PORTS };
  const files = autoconfigFiles(list, "semail.test", servers);
  assert.deepEqual(Object.keys(files), ["alice.semail.test.xml", "example.org.xml"]);
  assert.equal(
    files["example.org.xml"],
    autoconfigXml("example.org", "semail.test", servers),
    "the web form's answer, byte for byte",
  );
  const config = await parseAutoconfig(files["alice.semail.test.xml"]!);
  assert.deepEqual(config.domains, ["alice.semail.test"]);
  assert.deepEqual(
    [...config.incoming, ...config.outgoing].map((s) => `${s.hostname}:${s.port}`),
    ["mx.semail.test:993", "mx.semail.test:143", "mx.semail.test:995", "mx.semail.test:465", "mx.semail.test:587"],
  );

  const withManaged = parseUsersList("mailboxes:\n  - {owner: carol, address: carol@semail.test}\n", options);
  assert.deepEqual(Object.keys(autoconfigFiles(withManaged, "semail.test", servers)), ["semail.test.xml"]);
  assert.deepEqual(autoconfigFiles(parseUsersList("mailboxes: []\n", options), "semail.test", servers), {});
});

test("a file is named only after a lowercase domain: nothing that climbs out of its directory or hides", () => {
  assert.equal(autoconfigFileName("a-1.example.org"), "a-1.example.org.xml");
  for (const bad of [
    "../etc/passwd",
    "a/b.example",
    "Example.org",
    "a..b",
    ".hidden",
    "",
    "x.example.",
    "-a.example",
    "a b.example",
  ]) {
    assert.throws(() => autoconfigFileName(bad), /is not a lowercase domain name/, bad);
  }
  assert.match(
    notServedText("other.example"),
    /^"other\.example" is not a mail domain served here: set up your mail program by hand/,
  );
});
