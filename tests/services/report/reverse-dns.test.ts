// The reverse DNS check against a real named serving the forward zone and both reverse
// zones of documentation addresses: one address whose PTR is the EHLO name and leads back
// (OK, v4 and v6), one without a PTR (FAIL), one whose PTR names another host that leads back
// (WARN), one whose PTR names a host that does not lead back (FAIL); local mode's loopback
// only sending is not applicable and asks nothing.
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { after, before, describe, it } from "node:test";
import type { RunningNamed } from "../../../deploy/local/named.ts";
import { parseSettings } from "../../../config/settings.ts";
import { reverseDnsFindings } from "../../../services/report/checks/reverse-dns.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";

const APEX = "rdns.test";
const V6_ZONE = "8.b.d.0.1.0.0.2.ip6.arpa";
/** 2001:db8::25 in its zone: the 24 nibbles below 2001:0db8, least significant first. */
const V6_NAME = `5.2.0.0.${"0.".repeat(19)}0`;

let named: RunningNamed;
before(async () => {
  named = await startTestNamed([
    {
      name: APEX,
      text: zoneText(APEX, [
        "mx IN A 192.0.2.25",
        "mx IN AAAA 2001:db8::25",
        "other IN A 192.0.2.27",
        "elsewhere IN A 198.51.100.9",
      ]),
    },
    {
      name: "2.0.192.in-addr.arpa",
      text: zoneText("2.0.192.in-addr.arpa", [
        `25 IN PTR mx.${APEX}.`,
        `27 IN PTR other.${APEX}.`,
        `28 IN PTR elsewhere.${APEX}.`,
      ]),
    },
    { name: V6_ZONE, text: zoneText(V6_ZONE, [`${V6_NAME} IN PTR mx.${APEX}.`]) },
  ]);
});
after(() => named.stop());

function findings(raw: Record<string, unknown>) {
  const settings = parseSettings(
    { managedDomain: APEX, hostname: `mx.${APEX}`, log: { level: "silent" }, ...raw },
    "test",
  );
  const resolver = new Resolver();
  resolver.setServers([named.server]);
  return reverseDnsFindings(settings, resolver);
}

describe("report: reverse DNS of the outbound addresses", () => {
  it("is OK for addresses whose PTR is the EHLO name and leads back to them", async () => {
    const found = await findings({ report: { outboundAddresses: ["192.0.2.25", "2001:db8::25"] } });
    assert.deepEqual(
      found.map((f) => [f.status, f.subject]),
      [
        ["OK", "PTR of 192.0.2.25"],
        ["OK", "PTR of 2001:db8::25"],
      ],
    );
  });

  it("fails an address without a PTR or whose PTR does not lead back, and warns on a name not the EHLO name", async () => {
    const found = await findings({ report: { outboundAddresses: ["192.0.2.26", "192.0.2.27", "192.0.2.28"] } });
    assert.deepEqual(
      found.map((f) => [f.status, f.subject]),
      [
        ["FAIL", "PTR of 192.0.2.26"],
        ["WARN", "PTR of 192.0.2.27"],
        ["FAIL", "PTR of 192.0.2.28"],
      ],
    );
    assert.match(found[0]!.detail, /no PTR/);
    assert.match(found[0]!.fix!, /set its PTR to mx\.rdns\.test/);
    assert.match(found[1]!.detail, /names other\.rdns\.test, not the EHLO name mx\.rdns\.test/);
    assert.match(found[2]!.detail, /names elsewhere\.rdns\.test, whose A records do not lead back/);
    assert.match(found[2]!.fix!, /publish `elsewhere\.rdns\.test\. A 192\.0\.2\.28`/);
  });

  it("takes the EHLO name from outbound.delivery.ehloName", async () => {
    const found = await findings({
      report: { outboundAddresses: ["192.0.2.27"] },
      outbound: { delivery: { ehloName: `other.${APEX}` } },
    });
    assert.deepEqual(
      found.map((f) => f.status),
      ["OK"],
    );
  });

  it("is not applicable when outbound sends from loopback only (local mode)", async () => {
    const found = await findings({ outbound: { delivery: { localAddresses: [] } } });
    assert.deepEqual(
      found.map((f) => [f.status, f.detail]),
      [["OK", "not applicable: sending from loopback only"]],
    );
  });

  it("names the setting of a bad address", () => {
    assert.throws(
      () => parseSettings({ report: { outboundAddresses: ["mx.example"] } }, "test"),
      /report\.outboundAddresses\[0\]: must be an IP address/,
    );
  });
});
