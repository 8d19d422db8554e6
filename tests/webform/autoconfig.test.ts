// Mozilla autoconfig on the web form (webform/autoconfig.ts), read by a real XML
// parser: for a live mail domain (a managed subdomain, a proven or hand-written external
// one) the mail host, its ports and TLS, and the address as the login; at both paths
// Thunderbird asks, by the address or by the host asked; no session and no directory
// needed; 404 with a reason for a domain not served here or a claim not proven yet.
import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";
import { ldapSettings } from "../../config/sections/ldap.ts";
import { DEFAULT_TRANSPORT_SECURITY, mtaStsPolicy } from "../../config/stack/transport-security.ts";
import { createDirectory } from "../../directory/ldap.ts";
import { parseAutoconfig } from "./autoconfig-xml.ts";
import { startForm, type RunningForm } from "./helpers.ts";

const USERS = [
  { owner: "alice", address: "alice@alice.semail.test" },
  { owner: "dave", address: "dave@example.org" },
  { owner: "carol", address: "carol@carol.example", pendingProof: "0123456789abcdef0123" },
];

/** GET with an optional Host header, as a mail program sends it to autoconfig.<domain>. */
function get(form: RunningForm, path: string, host?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${form.url}${path}`, { headers: host ? { host } : {} }, (res) => {
      let body = "";
      res
        .setEncoding("utf8")
        .on("data", (chunk: string) => (body += chunk))
        .on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.once("error", reject).end();
  });
}

async function startAutoconfigForm(
  t: Parameters<typeof startForm>[0],
  extra: Partial<Parameters<typeof startForm>[1]> = {},
): Promise<RunningForm> {
  // A directory nobody answers for: the route must not need one.
  const directory = createDirectory(ldapSettings.parse({ url: "ldap://127.0.0.1:9" }));
  t.after(() => directory.close());
  const form = await startForm(t, { directory, ...extra });
  await form.store.update(() => USERS);
  return form;
}

test("a live mailbox's domain gets the mail host, TLS ports in order of preference and the address as the login", async (t) => {
  const form = await startAutoconfigForm(t);
  const reply = await get(form, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40alice.semail.test");
  assert.equal(reply.status, 200, reply.body);
  assert.match(reply.type, /^application\/xml/);
  const config = await parseAutoconfig(reply.body);
  assert.equal(config.provider, "semail.test");
  assert.deepEqual(config.domains, ["alice.semail.test"]);
  const login = { hostname: "mx.semail.test", authentication: "password-cleartext", username: "%EMAILADDRESS%" };
  assert.deepEqual(config.incoming, [
    { type: "imap", port: 993, socketType: "SSL", ...login },
    { type: "imap", port: 143, socketType: "STARTTLS", ...login },
    { type: "pop3", port: 995, socketType: "SSL", ...login },
  ]);
  assert.deepEqual(config.outgoing, [
    { type: "smtp", port: 465, socketType: "SSL", ...login },
    { type: "smtp", port: 587, socketType: "STARTTLS", ...login },
  ]);
});

test("both paths, by the address or by the host asked; any case; an external domain once live", async (t) => {
  const form = await startAutoconfigForm(t, { web: { mxHost: "mail.semail.test" } });
  const asked = {
    wellKnown: await get(form, "/.well-known/autoconfig/mail/config-v1.1.xml", "alice.semail.test"),
    subdomain: await get(form, "/mail/config-v1.1.xml", "autoconfig.alice.semail.test"),
    withPort: await get(form, "/mail/config-v1.1.xml", "AUTOCONFIG.Alice.semail.test:8080"),
    upper: await get(
      form,
      "/mail/config-v1.1.xml?emailaddress=Alice%40ALICE.semail.test",
      "autoconfig.elsewhere.example",
    ),
    external: await get(form, "/mail/config-v1.1.xml?emailaddress=dave%40example.org"),
  };
  for (const [name, reply] of Object.entries(asked)) {
    assert.equal(reply.status, 200, `${name}: ${reply.body}`);
    const config = await parseAutoconfig(reply.body);
    assert.deepEqual(config.domains, [name === "external" ? "example.org" : "alice.semail.test"], name);
    assert.equal(config.incoming[0]!.hostname, "mail.semail.test", `${name}: web.mxHost names the mail host`);
  }
});

test("a domain not served here, a claim not proven yet and the managed domain without a mailbox get 404 with the reason", async (t) => {
  const form = await startAutoconfigForm(t);
  for (const [path, host] of [
    ["/mail/config-v1.1.xml?emailaddress=alice%40other.example", undefined],
    ["/mail/config-v1.1.xml?emailaddress=carol%40carol.example", undefined],
    ["/mail/config-v1.1.xml", "autoconfig.carol.example"],
    ["/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40semail.test", undefined],
    ["/mail/config-v1.1.xml?emailaddress=%3Cscript%3E%40x", undefined],
  ] as const) {
    const reply = await get(form, path, host);
    assert.equal(reply.status, 404, `${path} ${host ?? ""}`);
    assert.match(reply.type, /^text\/plain/);
    assert.match(reply.body, /is not a mail domain served here: set up your mail program by hand/);
  }
});

test("the ports are the ones given (local mode's own); a service on port 0 is left out", async (t) => {
  const form = await startAutoconfigForm(t, {
    mailClients: { host: "127.0.0.1", ports: { imap: 0, imaps: 1993, pop3s: 1995, submission: 2588, submissions: 0 } },
  });
  const config = await parseAutoconfig(
    (await get(form, "/mail/config-v1.1.xml?emailaddress=alice%40alice.semail.test")).body,
  );
  assert.deepEqual(
    config.incoming.map((s) => `${s.type} ${s.hostname}:${s.port} ${s.socketType}`),
    ["imap 127.0.0.1:1993 SSL", "pop3 127.0.0.1:1995 SSL"],
  );
  assert.deepEqual(
    config.outgoing.map((s) => `${s.type} ${s.hostname}:${s.port} ${s.socketType}`),
    ["smtp 127.0.0.1:2588 STARTTLS"],
  );
});

test("the MTA-STS policy for mta-sts.<domain> of the managed domain and each live mail domain, as local mode's zone publishes it", async (t) => {
  const form = await startAutoconfigForm(t);
  const policy = mtaStsPolicy("semail.test", DEFAULT_TRANSPORT_SECURITY);
  for (const host of ["mta-sts.alice.semail.test", "MTA-STS.example.org", "mta-sts.semail.test"]) {
    const reply = await get(form, "/.well-known/mta-sts.txt", host);
    assert.equal(reply.status, 200, `${host}: ${reply.body}`);
    assert.equal(reply.type, "text/plain; charset=utf-8");
    assert.equal(reply.body, policy);
  }
  assert.match(policy, /^version: STSv1\r\nmode: enforce\r\nmx: mx\.semail\.test\r\n/);
  for (const host of ["mta-sts.carol.example", "mta-sts.other.example", "alice.semail.test"]) {
    const reply = await get(form, "/.well-known/mta-sts.txt", host);
    assert.equal(reply.status, 404, host);
    assert.match(reply.body, /is not a mail domain served here/);
  }
});
