// deploy/local/named.ts: a real named on a free loopback port.
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startNamed } from "../../../deploy/local/named.ts";
import { zoneText } from "../../helpers/named.ts";

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function dataDir() {
  const dir = await mkdtemp(join(tmpdir(), "semail-named-test-"));
  dirs.push(dir);
  return dir;
}

function resolverFor(server: string) {
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([server]);
  return r;
}

test("serves its zones, reloads new ones, stops", async (t) => {
  const named = await startNamed({
    dataDir: await dataDir(),
    zones: [{ name: "one.test", text: zoneText("one.test", ["www IN A 192.0.2.1"]) }],
  });
  t.after(() => named.stop());
  assert.match(named.server, /^127\.0\.0\.1:\d+$/);
  const r = resolverFor(named.server);
  assert.deepEqual(await r.resolve4("www.one.test"), ["192.0.2.1"]);

  // Same serial, new content, plus a new zone: both are served after reload.
  await named.reload([
    { name: "one.test", text: zoneText("one.test", ["www IN A 192.0.2.2"]) },
    { name: "two.test", text: zoneText("two.test", ["@ IN MX 10 mx.two.test.", "mx IN AAAA 2001:db8::1"]) },
  ]);
  assert.deepEqual(await r.resolve4("www.one.test"), ["192.0.2.2"]);
  assert.deepEqual(
    (await r.resolveMx("two.test")).map(({ exchange, priority }) => ({ exchange, priority })),
    [{ exchange: "mx.two.test", priority: 10 }],
  );

  await named.stop();
  await assert.rejects(r.resolve4("www.one.test"));
});

test("also answers on ::1", async (t) => {
  const named = await startNamed({
    dataDir: await dataDir(),
    zones: [{ name: "six.test", text: zoneText("six.test", ["www IN A 192.0.2.6"]) }],
  });
  t.after(() => named.stop());
  assert.deepEqual(await resolverFor(`[::1]:${named.port}`).resolve4("www.six.test"), ["192.0.2.6"]);
});

test("a broken zone is refused with named-checkzone's words, and nothing keeps running", async () => {
  const dir = await dataDir();
  await assert.rejects(
    startNamed({ dataDir: dir, zones: [{ name: "bad.test", text: "$TTL 60\n@ IN SOA broken\n" }] }),
    /zone bad\.test is not valid \(named-checkzone\)/,
  );
  assert.equal((await readdir(dir)).includes("named.pid"), false);
});

test("a broken zone on reload keeps the old data served", async (t) => {
  const named = await startNamed({
    dataDir: await dataDir(),
    zones: [{ name: "keep.test", text: zoneText("keep.test", ["www IN A 192.0.2.7"]) }],
  });
  t.after(() => named.stop());
  await assert.rejects(named.reload([{ name: "keep.test", text: "garbage\n" }]), /not valid/);
  assert.deepEqual(await resolverFor(named.server).resolve4("www.keep.test"), ["192.0.2.7"]);
});

test("zone names that could escape the data directory are refused", async () => {
  await assert.rejects(
    startNamed({ dataDir: await dataDir(), zones: [{ name: "../etc", text: "" }] }),
    /not a lower-case domain name/,
  );
  await assert.rejects(
    startNamed({ dataDir: await dataDir(), zones: [{ name: 'x"; include "/etc/shadow', text: "" }] }),
    /not a lower-case domain name/,
  );
});

test("a missing named says which packages to install", async () => {
  await assert.rejects(
    startNamed({ dataDir: await dataDir(), zones: [], namedPath: "/nonexistent/named" }),
    /apt-get install bind9 bind9-utils/,
  );
});
