// nginx's configuration for the webmail image (services/webmail/nginx.ts): Mozilla's
// autoconfig on both ports from one file per domain, port 80 redirecting everything else;
// and the maps that pick the domain, run as nginx runs them (first regex that matches, else
// the default) on what mail programs send, so a name that climbs out of the folder or a
// domain the web form would not answer for never reaches a file. The image's real nginx
// serves it in tests/services/webmail/https.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { askedDomain, AUTOCONFIG_PATHS } from "../../../config/autoconfig.ts";
import { renderNginxConfig, type NginxConfig } from "../../../services/webmail/nginx.ts";

const CONFIG: NginxConfig = {
  webRoot: "/var/lib/roundcube/public_html",
  phpSocket: "/run/fpm.sock",
  certFile: "/tls/cert.pem",
  keyFile: "/tls/key.pem",
  acmeDir: "/acme",
  pidFile: "/run/nginx.pid",
  uploadMiB: 25,
  ipv6: false,
  autoconfigDir: "/etc/semail/webmail/autoconfig",
};

/** The `server { ... }` blocks, by the port they listen on. */
function servers(text: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const block of text.split(/^ {4}server \{$/m).slice(1)) {
    const end = block.search(/^ {4}\}$/m);
    found.set(Number(/listen (\d+)/.exec(block)![1]), block.slice(0, end));
  }
  return found;
}

/** A `map SOURCE $NAME { ... }` run as nginx does: regexes in order, "" and default as plain values; `$var` in a value from the captures. */
function mapOf(text: string, name: string): (value: string) => string {
  const body = new RegExp(`^ {4}map \\$\\w+ \\$${name} \\{\\n([^}]*)^ {4}\\}`, "m").exec(text)?.[1];
  assert.ok(body, `map $${name}`);
  const entries = body
    .trim()
    .split("\n")
    .map((line) =>
      /^\s*("[^"]*"|\S+)\s+(\S+);$/
        .exec(line)!
        .slice(1)
        .map((w) => w.replace(/^"|"$/g, "")),
    );
  return (value) => {
    for (const [key, result] of entries) {
      if (key === "default") continue;
      const match = key!.startsWith("~") ? new RegExp(key!.slice(1)).exec(value) : key === value ? [] : null;
      if (match)
        return result!.replace(/^\$(\w+)$/, (_, v: string) => (match as RegExpExecArray).groups?.[v] ?? `$${v}`);
    }
    return entries.find(([key]) => key === "default")![1]!;
  };
}

/** $autoconfig_domain for an emailaddress argument (raw, as nginx keeps it) and a $host (lowercased by nginx). */
function domainAsked(text: string, emailaddress: string, host: string): string {
  const fromAddress = mapOf(text, "autoconfig_address_domain")(emailaddress);
  return fromAddress === "" ? mapOf(text, "autoconfig_host_domain")(host) : fromAddress;
}

test("autoconfig is answered on 80 without a redirect and on 443, at both paths, from the domain's file; a 404 says why", () => {
  const text = renderNginxConfig(CONFIG);
  const [http, https] = [servers(text).get(80)!, servers(text).get(443)!];
  for (const block of [http, https]) {
    for (const path of AUTOCONFIG_PATHS) {
      const location = new RegExp(`location = ${path.replace(/\./g, "\\.")} \\{([\\s\\S]*?)\\n {8}\\}`).exec(
        block,
      )?.[1];
      assert.ok(location, `${path} on ${block === http ? 80 : 443}`);
      assert.match(location, /root \/etc\/semail\/webmail\/autoconfig;/);
      assert.match(location, /types \{ \}\s+default_type "application\/xml; charset=utf-8";/);
      assert.match(location, /try_files \/\$autoconfig_domain\.xml @autoconfig_not_served;/);
      assert.doesNotMatch(location, /return 301/);
    }
    assert.match(
      block,
      /location @autoconfig_not_served \{\s+types \{ \}\s+default_type "text\/plain; charset=utf-8";\s+return 404 "\\"\$autoconfig_domain\\" is not a mail domain served here: set up your mail program by hand, with the settings your provider gives you\.\\n";/,
    );
  }
  assert.match(
    http,
    /location \/ \{\s+return 301 https:\/\/\$host\$request_uri;/,
    "everything else on 80 still goes to HTTPS",
  );
  assert.match(
    http,
    /location \^~ \/\.well-known\/acme-challenge\/ \{\s+root \/acme;/,
    "and certbot's challenges stay",
  );
});

test("the domain asked about: the address's (raw or %40), else the host's without autoconfig., as the web form reads it; never a path", () => {
  const text = renderNginxConfig(CONFIG);
  const cases: Array<[emailaddress: string, host: string, expected: string]> = [
    ["alice%40alice.semail.test", "autoconfig.elsewhere.example", "alice.semail.test"],
    ["alice@alice.semail.test", "mx.semail.test", "alice.semail.test"],
    ["a%40b%40example.org.", "x", "example.org"],
    ["", "autoconfig.alice.semail.test", "alice.semail.test"],
    ["", "alice.semail.test", "alice.semail.test"],
    ["no-at-sign", "autoconfig.example.org", "example.org"],
  ];
  for (const [address, host, expected] of cases) {
    assert.equal(domainAsked(text, address, host), expected, `${address} / ${host}`);
    assert.equal(
      askedDomain(decodeURIComponent(address) || undefined, host),
      expected,
      `the web form agrees: ${address} / ${host}`,
    );
  }
  // A domain nginx cannot lower falls back to the host (which nginx lowers); one that is
  // no domain at all gives the host's, or nothing: a file is never named by them.
  assert.equal(domainAsked(text, "Alice%40ALICE.semail.test", "autoconfig.alice.semail.test"), "alice.semail.test");
  for (const [address, host] of [
    ["x%40..%2F..%2Fetc%2Fpasswd", ""],
    ["x@../../etc/passwd", ""],
    ["x@a/b", ""],
    ["", "autoconfig."],
    ["x@", ""],
    ["x@a..b", ""],
  ]) {
    const domain = domainAsked(text, address!, host!);
    assert.doesNotMatch(domain, /\/|\.\.|%/, `${address} / ${host} -> ${domain}`);
    assert.equal(domain, "", `${address} / ${host}: nothing to look up`);
  }
});

test("MTA-STS: the policy on 443 only, from the file of the domain in mta-sts.<domain>; no other host names a file", () => {
  const text = renderNginxConfig({ ...CONFIG, mtaStsDir: "/etc/semail/webmail/mta-sts" });
  const [http, https] = [servers(text).get(80)!, servers(text).get(443)!];
  const location = /location = \/\.well-known\/mta-sts\.txt \{([\s\S]*?)\n {8}\}/.exec(https)?.[1];
  assert.ok(location, "the policy's location on 443");
  assert.match(location, /root \/etc\/semail\/webmail\/mta-sts;/);
  assert.match(location, /types \{ \}\s+default_type "text\/plain; charset=utf-8";/);
  assert.match(location, /try_files \/\$mta_sts_domain\.txt =404;/);
  assert.doesNotMatch(http, /mta-sts\.txt/, "senders fetch it over HTTPS only; 80 redirects it as the rest");
  const domain = mapOf(text, "mta_sts_domain");
  assert.equal(domain("mta-sts.alice.semail.test"), "alice.semail.test");
  assert.equal(domain("mta-sts.example.org"), "example.org");
  for (const host of ["alice.semail.test", "mta-sts.", "mx.semail.test", "mta-sts..", "xmta-sts.example.org"])
    assert.equal(domain(host), "", host);
  assert.doesNotMatch(renderNginxConfig(CONFIG), /mta.sts/, "no folder given: nothing served");
});
