// The daemons' metrics as scrape targets under Pulumi's mocks: by default each daemon's metrics
// port is published on the VM's loopback only, no firewall rule is made and the targets (a
// Prometheus file_sd list on the VM, the stack output) are loopback ones; with
// semail:metricsScrapeFrom the ports are published on the public addresses too, behind a
// firewall that names those networks alone, which the daemons wait for.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { parseSettings } from "../../config/settings.ts";
import { PROMETHEUS_TARGETS_PATH } from "../../config/stack/metrics-stack-settings.ts";
import { runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { findResource, inputsOf as inputs, type Inputs } from "../../testkit/pulumi-mocks/harness.ts";

const portsOf = (container: Inputs) => container.ports.map((p: Inputs) => `${p.ip}:${p.external}->${p.internal}`);

test("by default the metrics stay on the VM: loopback ports, loopback targets, no firewall rule", async () => {
  const { resources, result } = await runStack(usersYaml());
  const settings = parseSettings(parse(inputs(resources, "inbound-container").uploads[0].content), "daemon settings");
  assert.equal(settings.inbound.metricsListen?.spec, "0.0.0.0:9101");
  assert.equal(settings.outbound.metricsListen?.spec, "0.0.0.0:9102");
  const inbound = portsOf(inputs(resources, "inbound-container")).filter((p: string) => p.endsWith("9101->9101"));
  assert.deepEqual(inbound, ["127.0.0.1:9101->9101"]);
  assert.deepEqual(portsOf(inputs(resources, "outbound-container")), ["127.0.0.1:587->587", "127.0.0.1:9102->9102"]);
  assert.ok(!resources.some((r) => r.name === "metrics-firewall"), "no firewall rule without metricsScrapeFrom");

  assert.deepEqual(result.scrapeTargets, ["127.0.0.1:9101", "127.0.0.1:9102"]);
  const file = inputs(resources, "metrics-targets");
  assert.match(file.create, new RegExp(`install-scrape-targets ${PROMETHEUS_TARGETS_PATH.replaceAll(".", "\\.")}$`));
  assert.deepEqual(JSON.parse(file.stdin), [
    { targets: ["127.0.0.1:9101"], labels: { daemon: "inbound", semail_host: "main" } },
    { targets: ["127.0.0.1:9102"], labels: { daemon: "outbound", semail_host: "main" } },
  ]);
});

test("metricsScrapeFrom publishes the ports on the public addresses behind a firewall for those networks only", async () => {
  const { resources, result } = await runStack(usersYaml(), { metricsScrapeFrom: "198.51.100.7, 2001:db8:1::/48" });
  const firewall = inputs(resources, "metrics-firewall");
  assert.equal(
    firewall.create,
    "bash /usr/local/lib/semail/metrics-firewall.sh install --port 9101 --port 9102 --from 198.51.100.7/32 --from 2001:db8:1::/48 --unit",
  );
  assert.equal(firewall.check, "bash /usr/local/lib/semail/metrics-firewall.sh check");
  assert.equal(firewall.delete, "bash /usr/local/lib/semail/metrics-firewall.sh remove");

  const inbound = portsOf(inputs(resources, "inbound-container")).filter((p: string) => p.endsWith("9101->9101"));
  assert.deepEqual(inbound, ["127.0.0.1:9101->9101", "192.0.2.25:9101->9101", "2001:db8::25:9101->9101"]);
  // The daemons publish beyond loopback only once the firewall is in place.
  for (const daemon of ["inbound", "outbound"])
    assert.ok(
      findResource(resources, daemon).dependencies.some((urn) => urn.endsWith("::metrics-firewall")),
      `${daemon} waits for the firewall`,
    );

  assert.deepEqual(result.scrapeTargets, [
    "192.0.2.25:9101",
    "[2001:db8::25]:9101",
    "192.0.2.25:9102",
    "[2001:db8::25]:9102",
  ]);
});

test("a bad metricsScrapeFrom stops the stack, naming the setting", async () => {
  await assert.rejects(runStack(usersYaml(), { metricsScrapeFrom: "prometheus.example.net" }), (err: Error) => {
    assert.match(err.message, /semail:metricsScrapeFrom "prometheus\.example\.net" is not an address or a CIDR/);
    return true;
  });
});
