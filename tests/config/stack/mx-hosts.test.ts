// Mailboxes on several SEMail hosts in the zone: each domain's MX is the name of the host its
// mailboxes live on (the source's while one is moving), the other hosts' MX names get their
// addresses and their addresses the SPF, and MTA-STS names every MX. Served by a real named and
// asked with dig: the subdomain's MX flips when its entry's host changes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parseUsersList } from "../../../config/users-list.ts";
import { domainMx, hostAddressProblems, otherMxNames } from "../../../config/stack/mx-hosts.ts";
import { renderZone, type ZoneInput } from "../../../config/stack/zone-file.ts";
import { DEFAULT_TRANSPORT_SECURITY, mtaStsPolicy } from "../../../config/stack/transport-security.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { startTestNamed } from "../../helpers/named.ts";

const run = promisify(execFile);
const DOMAIN = "semail.email";
const HOSTS = {
  b: { mx: "mx-b.semail.email", ip: "192.0.2.26", ip6: "2001:db8::26" },
  c: { mx: "mail.c.example.net" },
};

const list = (yaml: string) =>
  parseUsersList(yaml, { managedDomain: DOMAIN, defaultSize: 1024 ** 3, minSize: 64 * 1024 ** 2 });

/** alice on main, bob on `bobHost` (moving to `moving` when given), carol on the managed domain on b, dave external on c. */
function entries(bobHost: string, moving?: string): string {
  return [
    "mailboxes:",
    "  - owner: alice",
    "    address: alice@alice.semail.email",
    "  - owner: bob",
    "    address: bob@bob.semail.email",
    ...(bobHost === "main" ? [] : [`    host: ${bobHost}`]),
    ...(moving ? [`    moving: ${moving}`] : []),
    "  - owner: carol",
    "    address: carol@semail.email",
    "    host: b",
    "  - owner: dave",
    "    address: dave@example.org",
    "    host: c",
    "",
  ].join("\n");
}

function zoneOf(yaml: string): string {
  const users = list(yaml);
  const mx = domainMx(users.mailboxes, HOSTS, DOMAIN, "semail:hosts");
  assert.deepEqual(mx.problems, []);
  const input: ZoneInput = {
    domain: DOMAIN,
    serial: 1,
    ipv4: "192.0.2.25",
    mailboxDomains: users.mailboxes.map((m) => m.domain),
    mailboxMx: mx.mx,
    otherHosts: Object.values(HOSTS),
    transport: { ...DEFAULT_TRANSPORT_SECURITY, otherMx: otherMxNames(HOSTS, DOMAIN) },
  };
  return renderZone(input);
}

test("a domain gets its host's MX; the managed domain and a split domain stay on the main host's", () => {
  const mx = (yaml: string) => domainMx(list(yaml).mailboxes, HOSTS, DOMAIN, "semail:hosts").mx;
  assert.deepEqual(mx(entries("b")), { "bob.semail.email": "mx-b.semail.email", "example.org": "mail.c.example.net" });
  assert.deepEqual(mx(entries("main")), { "example.org": "mail.c.example.net" }, "bob back on main: mx.<domain>");
  // While moving, the list still says where the mailbox is: its MX stays the source's.
  assert.deepEqual(mx(entries("main", "b")), { "example.org": "mail.c.example.net" });
  assert.deepEqual(mx(entries("b", "main"))["bob.semail.email"], "mx-b.semail.email");
  const split = [
    "mailboxes:",
    "  - {owner: erin, address: erin@team.semail.email}",
    "  - {owner: finn, address: finn@team.semail.email, host: b}",
    "",
  ].join("\n");
  assert.deepEqual(mx(split), {}, "mailboxes of one domain on two hosts: the main host's MX, which hands on");
});

test("a mailbox on a host the settings do not name is a problem naming the setting and the entry", () => {
  const users = list("mailboxes:\n  - {owner: gus, address: gus@gus.semail.email, host: z}\n");
  const { problems } = domainMx(users.mailboxes, HOSTS, DOMAIN, "semail:hosts");
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /gus's mailbox is on host "z", which semail:hosts does not name: add semail:hosts\.z/);
});

test("an MX name inside the zone needs the host's address, named by its key", () => {
  assert.deepEqual(hostAddressProblems(HOSTS, DOMAIN, "semail:hosts"), []);
  const problems = hostAddressProblems(
    { b: { mx: "mx-b.semail.email" }, c: { mx: "mx.c.example.net", ip: "300.1.1.1" } },
    DOMAIN,
    "semail:hosts",
  );
  assert.deepEqual(problems, [
    "semail:hosts.b.ip is required: its MX name mx-b.semail.email is in the semail.email zone, which must give it an address (set ip, ip6 or both)",
    'semail:hosts.c.ip "300.1.1.1" is not an IPv4 address',
  ]);
});

test("the zone: the other hosts' MX names resolve, their addresses are in the SPF, MTA-STS names every MX", async (t) => {
  const text = zoneOf(entries("b"));
  // named-checkzone refuses an MX naming a name without an address (-M fail) and any other mistake.
  const dir = await tempDir(t, "semail-zone-hosts-");
  await writeFile(join(dir, "db"), text);
  await run("named-checkzone", ["-k", "fail", "-m", "fail", "-M", "fail", "-n", "fail", DOMAIN, join(dir, "db")]);
  assert.match(text, /^mx-b 3600 IN A 192\.0\.2\.26$/m);
  assert.match(text, /^mx-b 3600 IN AAAA 2001:db8::26$/m);
  assert.match(text, /^@ 3600 IN TXT "v=spf1 mx ip4:192\.0\.2\.26 ip6:2001:db8::26 a:mail\.c\.example\.net -all"$/m);
  // The policy names every host's MX; the subdomain's mail programs are sent to its host.
  const policy = mtaStsPolicy(DOMAIN, { ...DEFAULT_TRANSPORT_SECURITY, otherMx: otherMxNames(HOSTS, DOMAIN) });
  assert.match(policy, /^mx: mx\.semail\.email\r\nmx: mail\.c\.example\.net\r\nmx: mx-b\.semail\.email\r\n/m);
  assert.match(text, /^_imaps\._tcp\.bob 3600 IN SRV 0 1 993 mx-b\.semail\.email\.$/m);
  assert.match(text, /^_imaps\._tcp\.alice 3600 IN SRV 0 1 993 mx\.semail\.email\.$/m);
});

test("a real named answers the subdomain's MX with its host's name, and the other name after the host changes", async (t) => {
  const named = await startTestNamed([{ name: DOMAIN, text: zoneOf(entries("b")) }]);
  t.after(() => named.stop());
  const dig = async (name: string, type: string) =>
    (
      await run("dig", [
        "@127.0.0.1",
        "-p",
        String(named.port),
        "+norecurse",
        "+short",
        "+time=5",
        "+tries=2",
        name,
        type,
      ])
    ).stdout
      .trim()
      .split("\n")
      .sort();
  assert.deepEqual(await dig("bob.semail.email", "MX"), ["10 mx-b.semail.email."]);
  assert.deepEqual(await dig("alice.semail.email", "MX"), ["10 mx.semail.email."]);
  assert.deepEqual(await dig("mx-b.semail.email", "A"), ["192.0.2.26"]);
  // The managed domain's MX stays on the main host though carol lives on b: main hands her mail on.
  assert.deepEqual(await dig("semail.email", "MX"), ["10 mx.semail.email."]);

  // A move under way changes nothing; the list naming the new host flips the MX.
  await named.reload([{ name: DOMAIN, text: zoneOf(entries("b", "main")) }]);
  assert.deepEqual(await dig("bob.semail.email", "MX"), ["10 mx-b.semail.email."]);
  await named.reload([{ name: DOMAIN, text: zoneOf(entries("main")) }]);
  assert.deepEqual(await dig("bob.semail.email", "MX"), ["10 mx.semail.email."]);
});
