// assets/host/install-zone.sh with the real named-checkzone (rndc left out), and with rndc
// against a real named: it returns once named serves the new serial, or fails saying so.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { renderNamedConfStanza, renderZone, type ZoneInput } from "../../../config/stack/zone-file.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { acmeRndcConf, RNDC_KEY_NAME } from "../../../components/acme-certificate.ts";
import { startTestNamed } from "../../helpers/named.ts";
import { freePort } from "../../helpers/pebble.ts";
import { promisify } from "node:util";
import { tempDir } from "../../../testkit/temp-dir.ts";

const SCRIPT = repoPath("assets/host/install-zone.sh");
const ZONE: ZoneInput = {
  domain: "semail.email",
  serial: 1,
  ipv4: "192.0.2.25",
  mailboxDomains: ["alice.semail.email"],
};

function install(
  zone: string,
  args: readonly string[],
  { domain = "semail.email", rndc = false } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn("bash", [SCRIPT, domain, ...args, ...(rndc ? [] : ["--no-rndc"])], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(zone);
  });
}

async function place(t: TestContext) {
  const dir = await tempDir(t, "semail-install-zone-");
  const zoneDir = join(dir, "bind");
  return {
    zoneDir,
    conf: join(dir, "named.conf.local"),
    args: ["--zone-dir", zoneDir, "--named-conf", join(dir, "named.conf.local")],
  };
}
const serialOf = (text: string) => Number(/^\s*(\d+) ; serial$/m.exec(text)?.[1]);
const today = () => Number(`${new Date().toISOString().slice(0, 10).replace(/-/g, "")}00`);

test("installs a checked zone with a date serial, and the include line once", async (t) => {
  const p = await place(t);
  const stanza = Buffer.from(renderNamedConfStanza("semail.email", join(p.zoneDir, "db.semail.email"))).toString(
    "base64",
  );
  const first = await install(renderZone(ZONE), [...p.args, "--stanza-b64", stanza]);
  assert.equal(first.code, 0, first.stderr);
  const installed = await readFile(join(p.zoneDir, "db.semail.email"), "utf8");
  assert.ok(serialOf(installed) >= today());
  assert.match(installed, /^alice 3600 IN MX 10 mx\.semail\.email\.$/m);
  assert.match(await readFile(join(p.zoneDir, "named.conf.semail"), "utf8"), /^zone "semail\.email" \{$/m);
  const include = `include "${join(p.zoneDir, "named.conf.semail")}";\n`;
  assert.equal(await readFile(p.conf, "utf8"), include);

  // The same zone again: nothing changes, not even the serial.
  const mtime = (await stat(join(p.zoneDir, "db.semail.email"))).mtimeMs;
  const again = await install(renderZone(ZONE), [...p.args, "--stanza-b64", stanza]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, "");
  assert.equal((await stat(join(p.zoneDir, "db.semail.email"))).mtimeMs, mtime);
  assert.equal(await readFile(p.conf, "utf8"), include, "the include line is not repeated");
});

test("every change increases the serial", async (t) => {
  const p = await place(t);
  let previous = 0;
  for (const domains of [["alice.semail.email"], ["alice.semail.email", "bob.semail.email"], ["bob.semail.email"]]) {
    const result = await install(renderZone({ ...ZONE, mailboxDomains: domains }), p.args);
    assert.equal(result.code, 0, result.stderr);
    const serial = serialOf(await readFile(join(p.zoneDir, "db.semail.email"), "utf8"));
    assert.ok(serial > previous, `${serial} > ${previous}`);
    previous = serial;
  }
});

test("a zone that fails named-checkzone is refused and the installed zone stays", async (t) => {
  const p = await place(t);
  assert.equal((await install(renderZone(ZONE), p.args)).code, 0);
  const good = await readFile(join(p.zoneDir, "db.semail.email"), "utf8");
  const broken = renderZone(ZONE).replace(/^mx .*$/m, "mx 3600 IN A 999.0.2.25");
  const result = await install(broken, p.args);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /does not pass named-checkzone; the installed zone is unchanged/);
  assert.equal(await readFile(join(p.zoneDir, "db.semail.email"), "utf8"), good);
  const notOurs = await install("@ IN A 192.0.2.1\n", p.args);
  assert.match(notOurs.stderr, /no line ending in '; serial'/);
});

test("with rndc: returns once named serves the new serial; fails naming the serial when named does not load it", async (t) => {
  const p = await place(t);
  const keyFile = join(p.zoneDir, "..", "rndc.key");
  await writeFile(keyFile, (await promisify(execFile)("tsig-keygen", [RNDC_KEY_NAME], { timeout: 10_000 })).stdout);
  await writeFile(p.conf, "");
  const port = await freePort();
  // other.email is named's own file, which install-zone.sh never writes: its reload changes nothing.
  const other = { ...ZONE, domain: "other.email", mailboxDomains: [] };
  const named = await startTestNamed([{ name: "other.email", text: renderZone(other) }], {
    controls: { keyFile, keyName: RNDC_KEY_NAME, port },
    includes: [p.conf],
  });
  t.after(() => named.stop());
  const rndcConf = join(p.zoneDir, "..", "rndc.conf");
  await writeFile(rndcConf, acmeRndcConf({ dir: p.zoneDir, rndcKey: keyFile, rndcPort: port }));
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([named.server]);

  const stanza = Buffer.from(renderNamedConfStanza("semail.email", join(p.zoneDir, "db.semail.email"))).toString(
    "base64",
  );
  const args = [...p.args, "--stanza-b64", stanza, "--rndc-conf", rndcConf];
  const first = await install(renderZone(ZONE), args, { rndc: true });
  assert.equal(first.code, 0, first.stderr);
  const installed = serialOf(await readFile(join(p.zoneDir, "db.semail.email"), "utf8"));
  assert.equal((await resolver.resolveSoa("semail.email")).serial, installed, "served when the script returns");
  const changed = await install(renderZone({ ...ZONE, mailboxDomains: [] }), args, { rndc: true });
  assert.equal(changed.code, 0, changed.stderr);
  const next = serialOf(await readFile(join(p.zoneDir, "db.semail.email"), "utf8"));
  assert.ok(next > installed);
  assert.equal((await resolver.resolveSoa("semail.email")).serial, next);

  const stuck = await install(
    renderZone({ ...other, mailboxDomains: ["x.other.email"] }),
    [...p.args, "--rndc-conf", rndcConf],
    {
      domain: "other.email",
      rndc: true,
    },
  );
  assert.notEqual(stuck.code, 0);
  assert.match(stuck.stderr, /named does not serve serial \d+ of other\.email after rndc reload/);
});
