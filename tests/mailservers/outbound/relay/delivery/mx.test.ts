// MX resolution against a real named.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createMxResolver,
  normalizeDomain,
  RouteError,
  type MxResolver,
} from "../../../../../mailservers/outbound/relay/delivery/mx.ts";
import { startTestNamed, zoneText } from "../../../../helpers/named.ts";
import type { RunningNamed } from "../../../../../deploy/local/named.ts";
import { APEX, RECORDS } from "./fixture.ts";

let named: RunningNamed;
let resolver: MxResolver;

before(async () => {
  named = await startTestNamed([{ name: APEX, text: zoneText(APEX, RECORDS) }]);
  resolver = createMxResolver({ server: named.server, timeoutMs: 2000 });
});
after(() => named?.stop());

async function routeError(domain: string, r = resolver): Promise<RouteError> {
  try {
    await r.resolve(domain);
  } catch (err) {
    assert.ok(err instanceof RouteError, String(err));
    return err;
  }
  assert.fail(`${domain} resolved`);
}

test("hosts come sorted by preference, with their addresses", async () => {
  const route = await resolver.resolve(`pref.${APEX}`);
  assert.equal(route.implicit, false);
  assert.deepEqual(
    route.hosts.map((h) => [h.name, h.preference, h.addresses]),
    [
      [`dead.${APEX}`, 10, [{ address: "127.0.0.9", family: 4 }]],
      [`a.${APEX}`, 20, [{ address: "127.0.0.2", family: 4 }]],
      [`b.${APEX}`, 30, [{ address: "127.0.0.3", family: 4 }]],
    ],
  );
});

test("equal preferences are shuffled", async () => {
  const orders = new Set<string>();
  for (let i = 0; i < 64 && orders.size < 2; i++)
    orders.add((await resolver.resolve(`equal.${APEX}`)).hosts.map((h) => h.name).join(","));
  assert.deepEqual([...orders].sort(), [`a.${APEX},b.${APEX}`, `b.${APEX},a.${APEX}`]);
});

test("AAAA before A; an IPv6-only host has only AAAA", async () => {
  assert.deepEqual((await resolver.resolve(`dualdom.${APEX}`)).hosts[0]?.addresses, [
    { address: "::1", family: 6 },
    { address: "127.0.0.2", family: 4 },
  ]);
  assert.deepEqual((await resolver.resolve(`v6only.${APEX}`)).hosts[0]?.addresses, [{ address: "::1", family: 6 }]);
});

test("no MX: implicit MX from the domain's address", async () => {
  const route = await resolver.resolve(`implicit.${APEX}`);
  assert.equal(route.implicit, true);
  assert.deepEqual(route.hosts, [
    { name: `implicit.${APEX}`, preference: 0, addresses: [{ address: "127.0.0.3", family: 4 }] },
  ]);
});

test("an MX host without addresses stays in the route, empty (the sender defers)", async () => {
  const route = await resolver.resolve(`nohost.${APEX}`);
  assert.deepEqual(route.hosts, [{ name: `missing.${APEX}`, preference: 10, addresses: [] }]);
});

test("permanent failures: null MX, NXDOMAIN, nothing at all", async () => {
  const nullMx = await routeError(`nullmx.${APEX}`);
  assert.equal(nullMx.kind, "null-mx");
  assert.equal(nullMx.verdict, "bounce");
  const nx = await routeError(`nope.${APEX}`);
  assert.equal(nx.kind, "dns-perm");
  assert.equal(nx.verdict, "bounce");
  assert.equal((await routeError(`empty.${APEX}`)).verdict, "bounce");
  assert.equal((await routeError("bad..name")).verdict, "bounce");
});

test("a DNS server that does not answer is a temporary failure", async () => {
  const silent = createMxResolver({ server: "127.0.0.1:9", timeoutMs: 200 });
  const err = await routeError(`pref.${APEX}`, silent);
  assert.equal(err.kind, "dns-temp");
  assert.equal(err.verdict, "defer");
});

test("a domain outside the server's zones is refused by it: temporary", async () => {
  // An authoritative-only server answers REFUSED, not NXDOMAIN: that must not bounce.
  assert.equal((await routeError("example.org")).verdict, "defer");
});

test("address literals and internationalised names", async () => {
  assert.deepEqual((await resolver.resolve("[127.0.0.2]")).hosts[0]?.addresses, [{ address: "127.0.0.2", family: 4 }]);
  assert.deepEqual((await resolver.resolve("[IPv6:::1]")).hosts[0]?.addresses, [{ address: "::1", family: 6 }]);
  assert.equal(normalizeDomain("Bücher.Example."), "xn--bcher-kva.example");
});
