// The ownership proof in local mode (`semail start`, a real child process): a mailbox
// claimed on an external domain is refused by both daemons until the tester, playing the
// domain's owner, publishes the TXT record in the stand-in zone local mode wrote; then
// "Check now" makes it live and mail flows to it through the MX.
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createTransport } from "nodemailer";
import { LOCAL_DOMAIN } from "../../deploy/local/defaults.ts";
import { SmtpClient } from "../helpers/smtp.ts";
import { readMbox } from "../mailservers/inbound/store/fixture.ts";
import { Client } from "../webform/helpers.ts";
import { startLocal, writeLocalSettings } from "./local-process.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

test("local mode: a claimed domain goes live only after its TXT record is published", {
  timeout: 240_000,
}, async (t) => {
  const dataDir = await tempDir(t, "semail-e2e-proof-");
  const ports = await writeLocalSettings(dataDir);
  const local = await startLocal(dataDir);
  t.after(() => local.kill());
  const password = (local.ready.passwords as Record<string, string>).admin!;
  const address = "boss@home.example";

  const web = new Client(`http://127.0.0.1:${ports.web}`);
  assert.equal((await web.login("admin", password)).status, 303);
  await web.get("/");
  const created = await web.post("/mailbox", { localPart: "boss", kind: "external", externalDomain: "home.example" });
  assert.equal(created.status, 303);
  const page = (await web.get("/?claimed")).text.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));
  const record =
    /<code><span class="line">(_semail\.home\.example\. IN TXT "semail-proof=[0-9a-f]{32}")<\/span><\/code>/.exec(
      page,
    )?.[1];
  assert.ok(record, "the page shows the TXT record");
  // The first check ran with the claim's stand-in zone served: the record is not there yet,
  // rather than a DNS that refused to answer (EREFUSED); the MX line likewise.
  assert.match(page, /There is no TXT record at _semail\.home\.example yet\. Last checked/);
  assert.doesNotMatch(page, /EREFUSED/);
  // Recommended beside it: MTA-STS with the id local mode's named publishes for its own
  // domain (one policy for every domain it serves), and TLS-RPT.
  const dns = new Resolver({ timeout: 2000, tries: 2 });
  dns.setServers([`127.0.0.1:${ports.dns}`]);
  const served = (await dns.resolveTxt(`_mta-sts.${LOCAL_DOMAIN}`)).map((chunks) => chunks.join(""));
  assert.equal(served.length, 1, served.join(" | "));
  assert.ok(
    page.includes(`<span class="line">_mta-sts.home.example. IN TXT "${served[0]}"\n</span>`),
    "the _mta-sts line",
  );
  assert.ok(page.includes(`<span class="line">mta-sts.home.example. IN CNAME mta-sts.${LOCAL_DOMAIN}.\n</span>`));
  assert.match(
    page,
    /<span class="line">_smtp\._tls\.home\.example\. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@semail\.test"<\/span>/,
  );

  // Local mode wrote a stand-in zone for the domain, with the record as a comment.
  const zoneFile = join(dataDir, "zones", "home.example.zone");
  const zone = await untilValue(
    () => readFile(zoneFile, "utf8").catch(() => undefined),
    "the claimed domain's zone file",
    30_000,
    100,
  );
  assert.ok(zone.includes(`; ${record}`), zone);

  // Pending: inbound does not serve it, outbound does not send as it.
  const inbound = await SmtpClient.connect(ports.inbound);
  t.after(() => inbound.close());
  await inbound.command("EHLO tester.example");
  await inbound.command("MAIL FROM:<someone@example.net>");
  const rcpt = await inbound.command(`RCPT TO:<${address}>`);
  assert.equal(rcpt.code, 550, rcpt.text);
  const submit = createTransport({
    host: "127.0.0.1",
    port: ports.submission,
    secure: false,
    ignoreTLS: true,
    auth: { user: "admin", pass: password },
  });
  t.after(() => submit.close());
  const message = {
    envelope: { from: address, to: [address] },
    from: address,
    to: address,
    subject: "Mine now",
    text: "Proven.\n",
  };
  await assert.rejects(
    submit.sendMail(message),
    (err: { responseCode?: number; response?: string }) =>
      err.responseCode === 553 && /has not proven control of home\.example/.test(err.response ?? ""),
  );

  // The tester publishes the record and the MX, as the owner would, and asks for a check.
  await writeFile(zoneFile, zone.replace(`; ${record}`, record).replace(/^; (@ IN MX .*)$/m, "$1"));
  const checked = await web.post("/mailbox/proof");
  assert.equal(checked.location, "/?proven", checked.text);
  await until(async () => (await web.status()).state === "done", "the apply of the proven mailbox", 60_000, 100);

  // Live: mail to it is accepted, and it can send, through its MX, to itself.
  await inbound.command("RSET");
  await inbound.command("MAIL FROM:<someone@example.net>");
  assert.equal((await inbound.command(`RCPT TO:<${address}>`)).code, 250);
  await submit.sendMail(message);
  const inbox = join(dataDir, "mail", "admin", "INBOX");
  const delivered = await untilValue(
    async () => {
      const messages = await readMbox(inbox).catch(() => []);
      return messages.length > 0 ? messages : undefined;
    },
    "the message in the new mailbox",
    30_000,
    100,
  );
  assert.deepEqual(
    delivered.map((m) => m.subject),
    ["Mine now"],
  );
  assert.equal(await local.interrupt(), 0, local.output());
});
