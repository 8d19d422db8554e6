// Networks from the settings: parsed once by the schema, checked as one BlockList.
import assert from "node:assert/strict";
import { it } from "node:test";
import { parseSettings } from "../../config/settings.ts";
import { inNetworks, networkBlockList, parseNetwork } from "../../lib/ip-networks.ts";

it("parses addresses and ADDR/PREFIX, refusing a prefix too long for its family", () => {
  assert.deepEqual(parseNetwork("10.88.0.0/16"), {
    spec: "10.88.0.0/16",
    address: "10.88.0.0",
    prefix: 16,
    family: "ipv4",
  });
  assert.deepEqual(parseNetwork("fd00::1"), { spec: "fd00::1", address: "fd00::1", prefix: 128, family: "ipv6" });
  for (const bad of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8/8", "fd00::/129", "host.example", "10.0.0.0/x"])
    assert.equal(parseNetwork(bad), undefined, bad);
});

it("the schema hands the daemon parsed networks, and names a bad one by its setting", () => {
  const settings = parseSettings({ outbound: { trustedNetworks: ["10.88.0.0/16"] } }, "test");
  const trusted = networkBlockList(settings.outbound.trustedNetworks);
  assert.ok(inNetworks("10.88.3.4", trusted));
  assert.ok(!inNetworks("10.89.0.1", trusted));
  assert.throws(
    () => parseSettings({ outbound: { containerNetworks: ["10.0.0.0/33"] } }, "test"),
    /outbound\.containerNetworks\[0\]: must be an address or ADDR\/PREFIX/,
  );
});
