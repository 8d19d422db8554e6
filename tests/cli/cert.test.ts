// `semail cert`: its refusals name the setting to fix; `status` prints what the last run wrote.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../../testkit/temp-dir.ts";
import { repoPath } from "../../testkit/repo-path.ts";

const SEMAIL = repoPath("bin/semail.mjs");

async function semail(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SEMAIL, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test("semail cert: renew refuses without tls.cert or the zone file; status prints status.json", async (t) => {
  const dir = await tempDir(t, "semail-cert-cli-");
  const state = join(dir, "acme");
  const config = join(dir, "semail.yaml");
  await writeFile(config, `acme:\n  stateDir: ${state}\n`);
  const noTls = await semail(["cert", "renew", "--config", config]);
  assert.equal(noTls.code, 2);
  assert.match(noTls.stderr, /tls\.cert and tls\.key: set where the certificate/);

  await writeFile(
    config,
    `tls:\n  cert: ${dir}/cert.pem\n  key: ${dir}/key.pem\nacme:\n  stateDir: ${state}\n  challenge: dns-01\n`,
  );
  const noZone = await semail(["cert", "--config", config]);
  assert.equal(noZone.code, 2);
  assert.match(noZone.stderr, /acme\.zoneFile: DNS-01 needs the installed zone file/);

  assert.match((await semail(["cert", "status", "--config", config])).stdout, /no status yet in/);
  await mkdir(state, { recursive: true });
  await writeFile(join(state, "status.json"), '{"outcome":"failed","error":"urn:ietf:params:acme:error:dns"}');
  const status = await semail(["cert", "status", "--config", config]);
  assert.equal(status.code, 0);
  assert.equal(JSON.parse(status.stdout).outcome, "failed");
  assert.match((await semail(["cert", "bogus", "--config", config])).stderr, /unknown action "bogus"/);
});
