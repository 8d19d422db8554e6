// assets/host/install-zone.sh with the real named-checkzone (rndc left out).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { renderNamedConfStanza, renderZone, type ZoneInput } from "../../../config/stack/zone-file.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const SCRIPT = repoPath("assets/host/install-zone.sh");
const ZONE: ZoneInput = {
  domain: "semail.email",
  serial: 1,
  ipv4: "192.0.2.25",
  mailboxDomains: ["alice.semail.email"],
};

function install(zone: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn("bash", [SCRIPT, "semail.email", ...args, "--no-rndc"], { stdio: ["pipe", "pipe", "pipe"] });
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
