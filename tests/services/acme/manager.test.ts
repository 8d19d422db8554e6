// The certificate manager's pure parts: when a certificate is renewed, the zone with our
// challenge lines (and without the old ones), the HTTP-01 files and their responder, the
// settings' names and refusals.
import assert from "node:assert/strict";
import { chmod, copyFile, readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { certificateNames } from "../../../config/sections/acme.ts";
import { parseSettings } from "../../../config/settings.ts";
import {
  CHALLENGE_TAG,
  httpChallengeFiles,
  installedZonePublisher,
  renewalTime,
  serveHttpChallenges,
  withChallengeRecords,
} from "../../../services/acme/index.ts";
import { renderZone } from "../../../config/stack/zone-file.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const DAY = 86_400_000;

test("renewal time: 30 days or a third of the lifetime before the end, whichever is earlier", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  const ninety = new Date(from.getTime() + 90 * DAY);
  assert.equal(renewalTime(from, ninety, 30 * DAY).toISOString(), "2026-03-02T00:00:00.000Z");
  assert.equal(renewalTime(from, ninety, 45 * DAY).toISOString(), new Date(ninety.getTime() - 45 * DAY).toISOString());
  const six = new Date(from.getTime() + 6 * DAY); // a short-lived certificate: renewed after 4 days
  assert.equal(renewalTime(from, six, 1 * DAY).toISOString(), new Date(from.getTime() + 4 * DAY).toISOString());
});

test("challenge records: added as tagged absolute lines, the old ones replaced, names outside the zone refused", () => {
  const zone = "$TTL 60\n@ IN SOA ns.semail.test. h.semail.test. 1 60 60 600 60\nmx IN A 127.0.0.1\n";
  const one = withChallengeRecords(zone, "semail.test", [{ name: "_acme-challenge.mx.semail.test", value: "abc_-1" }]);
  assert.equal(one, `${zone}_acme-challenge.mx.semail.test. 60 IN TXT "abc_-1" ${CHALLENGE_TAG}\n`);
  const two = withChallengeRecords(one, "semail.test", [
    { name: "_acme-challenge.semail.test", value: "wild" },
    { name: "_acme-challenge.semail.test", value: "apex" },
  ]);
  assert.doesNotMatch(two, /abc_-1/);
  assert.equal(two.split("\n").filter((l) => l.endsWith(CHALLENGE_TAG)).length, 2);
  assert.equal(withChallengeRecords(two, "semail.test", []), zone);
  assert.throws(
    () => withChallengeRecords(zone, "semail.test", [{ name: "_acme-challenge.other.test", value: "x" }]),
    /not in the zone semail\.test/,
  );
  assert.throws(
    () => withChallengeRecords(zone, "semail.test", [{ name: "_acme-challenge.semail.test", value: 'x" ; evil' }]),
    /not a challenge digest/,
  );
});

test("HTTP-01 files: served under /.well-known/acme-challenge/ and nothing else; odd tokens refused", async (t) => {
  const dir = await tempDir(t, "semail-acme-files-");
  const files = httpChallengeFiles(dir);
  await files.put("tok-EN_1", "tok-EN_1.thumbprint");
  await assert.rejects(files.put("../x", "y"), /not an ACME token/);
  const responder = await serveHttpChallenges(dir, "127.0.0.1", 0);
  t.after(() => responder.close());
  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: "127.0.0.1", port: responder.port, path }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
        .on("error", reject)
        .end();
    });
  assert.deepEqual(await get("/.well-known/acme-challenge/tok-EN_1"), { status: 200, body: "tok-EN_1.thumbprint" });
  assert.equal((await get("/.well-known/acme-challenge/missing")).status, 404);
  assert.equal((await get("/.well-known/acme-challenge/..%2Fstatus.json")).status, 404);
  assert.equal((await get("/")).status, 404);
  await files.remove("tok-EN_1");
  assert.equal((await get("/.well-known/acme-challenge/tok-EN_1")).status, 404);
});

test("acme settings: the mail host's names by default, a wildcard only with DNS-01", () => {
  const s = parseSettings({ managedDomain: "Semail.Email" }, "test");
  assert.deepEqual(certificateNames(s.acme, s.managedDomain), [
    "mx.semail.email",
    "imap.semail.email",
    "webmail.semail.email",
    "autoconfig.semail.email",
  ]);
  assert.equal(s.acme.renewBefore, 30 * DAY);
  const wild = parseSettings({ acme: { names: ["*.Semail.Email", "semail.email"] } }, "test");
  assert.deepEqual(wild.acme.names, ["*.semail.email", "semail.email"]);
  assert.throws(
    () => parseSettings({ acme: { names: ["*.semail.email"], challenge: "http-01" } }, "test"),
    /acme: a wildcard name needs challenge: dns-01/,
  );
  assert.throws(() => parseSettings({ acme: { names: ["bad name"] } }, "test"), /acme\.names\[0\]/);
});

test("DNS-01 on the VM: the installed zone with the challenge lines goes through install-zone.sh (checked, a new serial), and out again", async (t) => {
  const dir = await tempDir(t, "semail-acme-zone-");
  const zoneFile = join(dir, "db.semail.email");
  const zone = renderZone({ domain: "semail.email", serial: 2026010100, ipv4: "192.0.2.10", mailboxDomains: [] });
  await writeFile(zoneFile, zone);
  // Executable, as the VM installs it (the clone's copy need not be).
  const script = join(dir, "install-zone.sh");
  await copyFile(repoPath("assets/host/install-zone.sh"), script);
  await chmod(script, 0o755);
  const publish = installedZonePublisher({
    domain: "semail.email",
    zoneFile,
    install: [script, "--zone-dir", dir, "--no-rndc"],
  });
  await publish([{ name: "_acme-challenge.mx.semail.email", value: "digest-1" }]);
  const installed = await readFile(zoneFile, "utf8");
  assert.match(installed, /^_acme-challenge\.mx\.semail\.email\. 60 IN TXT "digest-1" ; semail-acme challenge$/m);
  const serial = (text: string) => Number(/(\d+) ; serial$/m.exec(text)![1]);
  assert.ok(serial(installed) > 2026010100, "a new serial");
  await publish([]);
  const after = await readFile(zoneFile, "utf8");
  assert.doesNotMatch(after, /_acme-challenge/);
  assert.ok(serial(after) > serial(installed));
  await assert.rejects(
    installedZonePublisher({ domain: "semail.email", zoneFile, install: ["false"] })([]),
    /false semail\.email/,
  );
});
