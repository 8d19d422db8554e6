// The stack settings of several SEMail hosts (semail:hostName, semail:hosts) and of the metrics'
// scrapers (semail:metricsScrapeFrom) as plain functions: their defaults, the same schema as the
// daemons' settings, and each bad value named down to its key.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HOSTS_SETTINGS, parseHostsStackSettings } from "../../../config/stack/hosts-stack-settings.ts";
import {
  METRICS_SETTINGS,
  parseMetricsStackSettings,
  prometheusTargetsFile,
  scrapeTargets,
} from "../../../config/stack/metrics-stack-settings.ts";

const DOMAIN = "semail.email";
const hostsDefaults = { hostName: HOSTS_SETTINGS.hostName[0], hosts: HOSTS_SETTINGS.hosts[0] };
const B = { smtp: "mx-b.semail.email:25", mx: "mx-b.semail.email", ip: "192.0.2.26", mailRoot: "/var/mail/semail" };

test("hosts: one host, main, by default", () => {
  assert.deepEqual(parseHostsStackSettings(hostsDefaults, DOMAIN), {
    settings: { hostName: "main", hosts: {} },
    problems: [],
  });
});

test("hosts: a valid set is taken as the daemons' settings take it", () => {
  const { settings, problems } = parseHostsStackSettings({ hostName: "b", hosts: JSON.stringify({ b: B }) }, DOMAIN);
  assert.deepEqual(problems, []);
  assert.equal(settings.hostName, "b");
  assert.deepEqual(settings.hosts.b, B);
});

test("hosts: each bad value is named by its key", () => {
  const problems = (hostName: string, hosts: unknown) =>
    parseHostsStackSettings({ hostName, hosts: typeof hosts === "string" ? hosts : JSON.stringify(hosts) }, DOMAIN)
      .problems;
  assert.match(problems("main", "{b:")[0]!, /^semail:hosts is not JSON .*: write an object of hosts by name/);
  assert.match(problems("B!", {})[0]!, /^semail:hostName: must be a host name/);
  assert.match(problems("main", { b: { ...B, smtp: "nowhere" } })[0]!, /^semail:hosts\.b\.smtp: must be HOST:PORT/);
  assert.match(problems("main", { b: { ...B, colour: "red" } })[0]!, /^semail:hosts\.b/);
  // An MX name in our zone needs its address there.
  assert.deepEqual(problems("main", { b: { ...B, ip: undefined } }), [
    "semail:hosts.b.ip is required: its MX name mx-b.semail.email is in the semail.email zone, which must give it an address (set ip, ip6 or both)",
  ]);
  assert.match(problems("main", { b: { ...B, ip: "192.0.2" } })[0]!, /^semail:hosts\.b\.ip: must be an IPv4 address/);
  // A host other than main names its own MX in hosts.
  assert.match(problems("c", { b: B })[0]!, /^semail:hosts names no "c" \(semail:hostName\)/);
});

test("metrics: loopback only by default; scrapers as CIDRs, a bad one named", () => {
  const defaults = parseMetricsStackSettings({ metricsScrapeFrom: METRICS_SETTINGS.metricsScrapeFrom[0] });
  assert.deepEqual(defaults, { settings: { metricsScrapeFrom: [] }, problems: [] });
  assert.deepEqual(scrapeTargets(defaults.settings, ["192.0.2.25"]), [
    { daemon: "inbound", target: "127.0.0.1:9101" },
    { daemon: "outbound", target: "127.0.0.1:9102" },
  ]);
  const set = parseMetricsStackSettings({ metricsScrapeFrom: "198.51.100.7,198.51.100.7 2001:db8::/32" });
  assert.deepEqual(set.settings.metricsScrapeFrom, ["198.51.100.7/32", "2001:db8::/32"]);
  const bad = parseMetricsStackSettings({ metricsScrapeFrom: "10.0.0.0/33" });
  assert.match(bad.problems[0]!, /^semail:metricsScrapeFrom "10\.0\.0\.0\/33" is not an address or a CIDR/);
  const file = JSON.parse(prometheusTargetsFile(scrapeTargets(set.settings, ["192.0.2.25", "2001:db8::25"]), "b"));
  assert.deepEqual(file[1], {
    targets: ["192.0.2.25:9102", "[2001:db8::25]:9102"],
    labels: { daemon: "outbound", semail_host: "b" },
  });
});
