// Local mode's stand-in DNS for claimed domains (deploy/local/local-dns.ts) with a real
// named: the first proof check of a claim, made before any apply wrote the claim's zone
// file, finds the zone served and the record not there yet ("absent"), not a refusal; a
// tester who uncomments the TXT line proves the claim at the next check.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createLocalDns, servingClaimZoneFirst } from "../../../deploy/local/local-dns.ts";
import { createProofLookup } from "../../../webform/domain-proof.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";

test("a claim's first proof check finds its stand-in zone served (absent, not EREFUSED); the uncommented TXT proves it", async (t) => {
  const zonesDir = await tempDir(t, "semail-zones-");
  const managed = { name: "semail.test", text: zoneText("semail.test", ["mx IN A 127.0.0.1"]) };
  const named = await startTestNamed([managed]);
  t.after(() => named.stop());
  const dns = createLocalDns(named, zonesDir, managed, [managed]);
  const lookup = createProofLookup({ servers: [named.server], timeoutMs: 1000 });
  const errors: string[] = [];
  const check = servingClaimZoneFirst(dns, { dir: zonesDir, mxHost: "mx.semail.test" }, lookup, (err) =>
    errors.push(err.message),
  );

  // What the first check saw before: named serves no zone for the claimed domain yet.
  assert.deepEqual(await lookup("home.example", TOKEN), { state: "unknown", detail: "EREFUSED" });
  assert.deepEqual(
    await check("home.example", TOKEN),
    { state: "absent" },
    "the zone is written and served before the first look",
  );
  const file = join(zonesDir, "home.example.zone");
  const text = await readFile(file, "utf8");
  assert.match(text, /^; _semail\.home\.example\. IN TXT "semail-proof=0123456789abcdef0123456789abcdef"$/m);

  // The tester, as the domain's owner, publishes the record: the next check sees it, and
  // the file is never written over.
  await writeFile(file, text.replace(/^; (_semail\.home\.example\. IN TXT)/m, "$1"));
  assert.deepEqual(await check("home.example", TOKEN), { state: "proven" });
  assert.deepEqual(errors, []);
});
