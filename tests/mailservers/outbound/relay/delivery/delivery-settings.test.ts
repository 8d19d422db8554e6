// outbound.delivery settings become sender options; files are read once, errors name the setting.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseSettings } from "../../../../../config/settings.ts";
import { deliveryOptionsFromSettings } from "../../../../../mailservers/outbound/relay/delivery/delivery-settings.ts";
import { createSender } from "../../../../../mailservers/outbound/relay/delivery/send.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "semail-delivery-settings-"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("defaults: port 25, prefer IPv6, RFC 5321 greeting time, EHLO = hostname", async () => {
  const options = await deliveryOptionsFromSettings(parseSettings({ hostname: "mail.example.test" }, "test"));
  assert.equal(options.port, 25);
  assert.equal(options.ipFamily, "prefer-ipv6");
  assert.equal(options.greetingTimeoutMs, 300_000);
  assert.equal(options.connectionIdleMs, 2000);
  assert.equal(options.maxIdleConnections, 20);
  assert.equal(options.ehloName, "mail.example.test");
  assert.equal(options.relayHost, undefined);
  assert.equal(options.dkim, undefined);
  // The options are ones the sender takes: it is made, and closes, without a delivery.
  const sender = createSender(options);
  assert.equal(typeof sender.deliver, "function");
  await sender.close();
  // The managed domain (default semail.test) and its subdomains are delivered to, never "loops".
  assert.equal(options.isLocalDomain?.("alice.semail.test"), true);
  assert.equal(options.isLocalDomain?.("semail.test"), true);
  assert.equal(options.isLocalDomain?.("notsemail.test"), false);
  // A user's external domain hosted here is ours too, per the users list.
  const hosted = await deliveryOptionsFromSettings(
    parseSettings({}, "test"),
    undefined,
    (d) => d === "ada.example.org",
  );
  assert.equal(hosted.isLocalDomain?.("ada.example.org"), true);
  assert.equal(hosted.isLocalDomain?.("other.example.org"), false);
});

test("every delivery setting is carried over; key and password come from files", async () => {
  const key = generateKeyPairSync("rsa", { modulusLength: 1024 })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
  await writeFile(join(dir, "dkim.pem"), key);
  await writeFile(join(dir, "relay.pass"), "s3cret\n");
  const settings = parseSettings(
    {
      hostname: "mail.example.test",
      outbound: {
        delivery: {
          ehloName: "out.example.test",
          smtpPort: 2525,
          resolver: "127.0.0.1:5353",
          ipFamily: "ipv4",
          connectTimeout: "5s",
          greetingTimeout: "1m",
          commandTimeout: "2m",
          connectionIdleTime: "5s",
          tls: { "bank.test": "verify" },
          relayHost: { host: "smtp.isp.test", user: "me", passwordFile: join(dir, "relay.pass") },
          dkim: [{ domain: "example.test", selector: "s2026", privateKeyFile: join(dir, "dkim.pem") }],
          localAddresses: ["192.0.2.10"],
        },
      },
    },
    "test",
  );
  const options = await deliveryOptionsFromSettings(settings);
  assert.equal(options.ehloName, "out.example.test");
  assert.equal(options.port, 2525);
  assert.equal(options.ipFamily, "ipv4");
  assert.deepEqual(
    [options.connectTimeoutMs, options.greetingTimeoutMs, options.commandTimeoutMs],
    [5000, 60_000, 120_000],
  );
  assert.equal(options.connectionIdleMs, 5000);
  assert.deepEqual(options.tlsPolicy, { "bank.test": "verify" });
  assert.deepEqual(options.relayHost, {
    host: "smtp.isp.test",
    port: 587,
    secure: false,
    verifyTls: true,
    auth: { user: "me", pass: "s3cret" },
  });
  assert.deepEqual(options.localAddresses, ["192.0.2.10"]);
  assert.ok(options.dkim && "keyFor" in options.dkim && options.dkim.keyFor("team.example.test")?.selector === "s2026");
  assert.ok(options.mtaSts, "MTA-STS is honoured by default");
  assert.ok(options.dane, "DANE is honoured when a resolver is named");
});

test("outbound.delivery.mtaSts: false turns MTA-STS off; DANE needs a resolver; a bad fetch timeout names the setting", async () => {
  const off = await deliveryOptionsFromSettings(parseSettings({ outbound: { delivery: { mtaSts: false } } }, "test"));
  assert.equal(off.mtaSts, undefined);
  assert.equal(off.dane, undefined, "no DANE without a named (validating) resolver");
  assert.throws(
    () => parseSettings({ outbound: { delivery: { mtaStsFetchTimeout: "soon" } } }, "test"),
    /outbound\.delivery\.mtaStsFetchTimeout/,
  );
});

test("bad values and missing files name the setting", async () => {
  assert.throws(
    () => parseSettings({ outbound: { delivery: { ipFamily: "ipv5" } } }, "test"),
    /outbound\.delivery\.ipFamily/,
  );
  assert.throws(
    () => parseSettings({ outbound: { delivery: { connectionIdleTime: "a while" } } }, "test"),
    /outbound\.delivery\.connectionIdleTime/,
  );
  assert.throws(
    () => parseSettings({ outbound: { delivery: { resolver: "dns.example" } } }, "test"),
    /outbound\.delivery\.resolver/,
  );
  assert.throws(
    () => parseSettings({ outbound: { delivery: { tls: { "x.test": "maybe" } } } }, "test"),
    /outbound\.delivery\.tls/,
  );
  assert.throws(
    () => parseSettings({ outbound: { delivery: { relayHost: { host: "h", user: "u" } } } }, "test"),
    /passwordFile go together/,
  );
  const missing = parseSettings(
    {
      outbound: {
        delivery: { dkim: [{ domain: "example.test", selector: "s1", privateKeyFile: join(dir, "nope.pem") }] },
      },
    },
    "test",
  );
  await assert.rejects(
    deliveryOptionsFromSettings(missing),
    /outbound\.delivery\.dkim\[0\]\.privateKeyFile: cannot read/,
  );
});
