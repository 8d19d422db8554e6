// The MTA-STS and TLS-RPT records the form shows an external domain's owner, against a real
// slapd and a real named: the `_mta-sts` id is the one of the policy file served for that
// domain and of SEMail's own zone; the lines load as they are into the owner's zone; they are
// recommended only, so a claim still goes live on its proof alone.
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { test } from "node:test";
import { loadUsersList } from "../../config/users-file.ts";
import { renderZone } from "../../config/stack/zone-file.ts";
import {
  DEFAULT_TRANSPORT_SECURITY,
  mtaStsFileName,
  mtaStsFiles,
  mtaStsId,
  type TransportSecurity,
} from "../../config/stack/transport-security.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { testDirectoryForFile } from "../helpers/slapd.ts";
import { deployedTransport } from "../../webform/transport-records.ts";
import { LIST_OPTIONS, loggedInClient, startForm } from "./helpers.ts";

const { directory } = testDirectoryForFile();
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };
const MANAGED = LIST_OPTIONS.managedDomain;
/** Not SEMail's defaults: the page must follow the deployment's settings. */
const DEPLOYED: TransportSecurity = {
  mtaStsMode: "testing",
  mtaStsMaxAge: 86400,
  tlsRptRua: "mailto:tls@reports.test",
};

const decodeEntities = (text: string) => text.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

/** The lines of the code box after #transport-records, or undefined when the page has none. */
function transportLines(page: string): string[] | undefined {
  const box = /<p id="transport-records">[\s\S]*?<\/p>\s*<pre><code>([\s\S]*?)<\/code><\/pre>/.exec(page)?.[1];
  return box === undefined
    ? undefined
    : [...box.matchAll(/<span class="line">([^\n<]*)\n?<\/span>/g)].map((m) => m[1]!);
}

test("an external domain's page lists its MTA-STS and TLS-RPT records with the served policy's id; the claim goes live without them", async (t) => {
  const zones = (carol: readonly string[]) => [
    {
      name: MANAGED,
      text: renderZone({ domain: MANAGED, serial: 1, ipv4: "127.0.0.1", mailboxDomains: [], transport: DEPLOYED }),
    },
    { name: "carol.example", text: zoneText("carol.example", ["@ IN MX 10 mx.semail.test.", ...carol]) },
  ];
  const named = await startTestNamed(zones([]));
  t.after(() => named.stop());
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([named.server]);
  const txt = async (name: string) => (await resolver.resolveTxt(name)).map((chunks) => chunks.join(""));

  const form = await startForm(t, { directory, transport: DEPLOYED, web: { ...LOOSE, dnsServers: [named.server] } });
  const bob = await loggedInClient(form, "bob", "bob-Secret2");
  const created = await bob.post("/mailbox", { localPart: "bob", kind: "external", externalDomain: "carol.example" });
  assert.equal(created.location, "/?claimed");
  let page = decodeEntities((await bob.get("/?claimed")).text);

  // The id of the policy file the webmail serves at mta-sts.carol.example, and of SEMail's own zone.
  const policy = mtaStsFiles(["carol.example"], MANAGED, DEPLOYED)[mtaStsFileName("carol.example")]!;
  const id = mtaStsId(policy);
  assert.deepEqual(await txt(`_mta-sts.${MANAGED}`), [`v=STSv1; id=${id}`], "the managed zone publishes the same id");
  assert.notEqual(id, mtaStsId(mtaStsFiles([], MANAGED, DEFAULT_TRANSPORT_SECURITY)[mtaStsFileName(MANAGED)]!));
  const lines = transportLines(page);
  assert.deepEqual(lines, [
    `_mta-sts.carol.example. IN TXT "v=STSv1; id=${id}"`,
    "mta-sts.carol.example. IN CNAME mta-sts.semail.test.",
    '_smtp._tls.carol.example. IN TXT "v=TLSRPTv1; rua=mailto:tls@reports.test"',
  ]);
  assert.match(page, /<p id="transport-records">Recommended, not needed for the mailbox to go live:/);
  assert.match(page, /report TLS failures to mailto:tls@reports\.test \(TLS-RPT\)/);
  assert.match(
    page,
    /The mta-sts\.carol\.example line points that name at this server, which then gets a certificate naming it/,
  );

  // Only the proof is published: the claim goes live all the same.
  const token = (await loadUsersList(form.usersFile, LIST_OPTIONS)).byOwner("bob")?.pendingProof;
  await named.reload(zones([`_semail IN TXT "semail-proof=${token}"`]));
  assert.equal((await bob.post("/mailbox/proof")).location, "/?proven");
  page = decodeEntities((await bob.get("/?proven")).text);
  assert.deepEqual(transportLines(page), lines, "a live mailbox's page still lists them");

  // The owner pastes the lines into the zone as they are: named loads them and answers them.
  await named.reload(zones([`_semail IN TXT "semail-proof=${token}"`, ...lines!]));
  assert.deepEqual(await txt("_mta-sts.carol.example"), [`v=STSv1; id=${id}`]);
  assert.deepEqual(await txt("_smtp._tls.carol.example"), ["v=TLSRPTv1; rua=mailto:tls@reports.test"]);
  assert.deepEqual(await resolver.resolveCname("mta-sts.carol.example"), ["mta-sts.semail.test"]);
});

test("a subdomain's page lists none (its zone carries them); another MX than the policy's gets a note, not records", async (t) => {
  const form = await startForm(t, { directory, mxCheck: async () => ({ state: "none" }) });
  await form.store.update(() => [{ owner: "alice", address: "alice@alice.semail.test" }]);
  const alice = await loggedInClient(form, "alice", "alice-Secret1");
  const page = decodeEntities((await alice.get("/")).text);
  assert.match(page, /Mail for alice\.semail\.test is routed here automatically/);
  assert.doesNotMatch(page, /transport-records|_mta-sts/);

  const other = await startForm(t, {
    directory,
    mxCheck: async () => ({ state: "none" }),
    web: { mxHost: "mail.elsewhere.test" },
  });
  await other.store.update(() => [{ owner: "bob", address: "bob@bob.example" }]);
  const bob = await loggedInClient(other, "bob", "bob-Secret2");
  const withOtherMx = decodeEntities((await bob.get("/")).text);
  assert.equal(transportLines(withOtherMx), undefined);
  assert.match(
    withOtherMx,
    /MTA-STS is not offered for bob\.example: this server's policy names mx\.semail\.test, not the MX above \(mail\.elsewhere\.test\)/,
  );
});

test("the deployment's settings come from its applier; its defaults, with why, when it has none or does not answer", async () => {
  assert.deepEqual(await deployedTransport({}, 1000), { transport: DEFAULT_TRANSPORT_SECURITY });
  assert.deepEqual(await deployedTransport({ transportSecurity: async () => DEPLOYED }, 1000), { transport: DEPLOYED });
  assert.deepEqual(
    await deployedTransport(
      { transportSecurity: () => Promise.reject(new Error("invalid stack configuration")) },
      1000,
    ),
    { transport: DEFAULT_TRANSPORT_SECURITY, problem: "invalid stack configuration" },
  );
  assert.deepEqual(await deployedTransport({ transportSecurity: () => new Promise(() => undefined) }, 20), {
    transport: DEFAULT_TRANSPORT_SECURITY,
    problem: "no answer within 20 ms",
  });
});
