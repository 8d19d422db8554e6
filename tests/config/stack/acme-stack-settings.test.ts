// The MTA-STS policy hosts the main ACME certificate leaves out (acme-stack-settings.ts
// policyHostCertificates): which certificates of their own a users list gives, within Let's
// Encrypt's 100 names a certificate, and the settings that refuse two in one folder. Issued for
// real against Pebble in tests/services/acme/host-certificates.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSettings } from "../../../config/settings.ts";
import { MAX_CERTIFICATE_NAMES, policyHostCertificates } from "../../../config/stack/acme-stack-settings.ts";

const DOMAIN = "semail.email";

test("a users list past Let's Encrypt's 100 names: the subdomains' policy hosts split into certificates of at most 100, the main certificate's names and its wildcard left out", () => {
  const subdomains = Array.from({ length: 205 }, (_, i) => `u${String(i).padStart(3, "0")}.${DOMAIN}`);
  const hosts = policyHostCertificates([DOMAIN, ...subdomains, "ext.example"], DOMAIN, "dns-01", [
    `mx.${DOMAIN}`,
    `mta-sts.u000.${DOMAIN}`,
    `*.u001.${DOMAIN}`,
  ]);
  assert.deepEqual(
    hosts.map((h) => [h.id, h.names.length, h.challenge]),
    [
      ["subdomains", MAX_CERTIFICATE_NAMES, "dns-01"],
      ["subdomains-2", MAX_CERTIFICATE_NAMES, "dns-01"],
      ["subdomains-3", 3, "dns-01"],
      ["ext.example", 1, "http-01"],
    ],
  );
  const all = hosts.flatMap((h) => h.names);
  assert.equal(new Set(all).size, all.length, "each name once");
  assert.ok(
    !all.includes(`mta-sts.u000.${DOMAIN}`) && !all.includes(`mta-sts.u001.${DOMAIN}`),
    "covered by the main one",
  );
  assert.ok(!all.includes(`mta-sts.${DOMAIN}`), "the managed domain's own is the main certificate's");
  // HTTP-01 stacks (Gandi): the subdomains' by HTTP-01 too.
  assert.equal(policyHostCertificates([`a.${DOMAIN}`], DOMAIN, "http-01")[0]?.challenge, "http-01");
  // Settings refuse two certificates in one folder.
  assert.throws(
    () =>
      parseSettings(
        {
          managedDomain: DOMAIN,
          acme: {
            hosts: [
              { id: "x.example", names: ["mta-sts.x.example"], challenge: "http-01" },
              { id: "x.example", names: ["mta-sts.y.example"], challenge: "http-01" },
            ],
          },
        },
        "test",
      ),
    /each id names one certificate's folder/,
  );
});
