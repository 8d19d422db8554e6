// The sender honours MTA-STS (RFC 8461) against real parts: a named serving the MX and
// `_mta-sts` records, an HTTPS server on loopback serving each domain's policy with its own
// certificate (trusted through the injected CA list), and SMTP servers on loopback, some with
// STARTTLS and a certificate for their MX name, one without STARTTLS.
import assert from "node:assert/strict";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import {
  createMtaSts,
  type MtaStsOptions,
} from "../../../../../../mailservers/outbound/relay/delivery/tls-policy/mta-sts-cache.ts";
import { createMxResolver } from "../../../../../../mailservers/outbound/relay/delivery/mx.ts";
import {
  createSender,
  type DeliveryOptions,
  type RecipientResult,
} from "../../../../../../mailservers/outbound/relay/delivery/send.ts";
import {
  createTlsReport,
  type TlsReport,
} from "../../../../../../mailservers/outbound/relay/delivery/tls-policy/tls-report.ts";
import type { Clock } from "../../../../../../lib/clock.ts";
import type { RunningNamed } from "../../../../../../deploy/local/named.ts";
import { startTestNamed, zoneText } from "../../../../../helpers/named.ts";
import { sharedPort, startTarget, type Target } from "../../../../../helpers/target-smtp.ts";
import { selfSignedPem } from "../../../../../../testkit/tls.ts";
import { tempDir } from "../../../../../../testkit/temp-dir.ts";
import { deliverOne, receivedFor as got } from "../fixture.ts";

const APEX = "sts.test";
const IP = { https: "127.0.0.30", mx1: "127.0.0.31", plain: "127.0.0.32", other: "127.0.0.33", wrong: "127.0.0.34" };

const enforce = (mx: string[], maxAge = 86400) =>
  `version: STSv1\nmode: enforce\n${mx.map((m) => `mx: ${m}\n`).join("")}max_age: ${maxAge}\n`;
const testing = (mx: string[]) =>
  `version: STSv1\nmode: testing\n${mx.map((m) => `mx: ${m}\n`).join("")}max_age: 86400\n`;

/** Each policy domain (under APEX): its MX lines and the policy the HTTPS server serves at first. */
const DOMAINS: Record<string, { mx: string[]; policy: string }> = {
  enf: { mx: ["10 mx1"], policy: enforce([`*.${APEX}`]) },
  enfplain: { mx: ["10 plain"], policy: enforce([`plain.${APEX}`]) },
  enfother: { mx: ["10 other"], policy: enforce([`mx1.${APEX}`]) },
  enfwrong: { mx: ["10 wrong"], policy: enforce([`wrong.${APEX}`]) },
  pref: { mx: ["10 other", "20 mx1"], policy: enforce([`mx1.${APEX}`]) },
  testing: { mx: ["10 plain"], policy: testing([`mx1.${APEX}`]) },
  cache: { mx: ["10 mx1"], policy: enforce([`mx1.${APEX}`]) },
  keep: { mx: ["10 plain"], policy: enforce([`plain.${APEX}`]) },
  nofetch: { mx: ["10 plain"], policy: enforce([`plain.${APEX}`]) },
  override: { mx: ["10 plain"], policy: enforce([`plain.${APEX}`]) },
};

/** What the policy server answers for a domain, and how often it was asked. */
interface Page {
  status: number;
  body: string;
  type: string;
  hits: number;
}

let named: RunningNamed;
let smtpPort: number;
let httpsPort: number;
let https: HttpsServer;
const targets: Target[] = [];
let mx1: Target, plain: Target, other: Target, wrong: Target;
const pages = new Map<string, Page>();
const ids = new Map<string, string>();
/** Trust anchors: the policy hosts' certificates, and the SMTP servers'. */
const httpsCa: string[] = [];
const smtpCa: string[] = [];
let serial = 1;

function zone(): string {
  const records = [
    `mx1 IN A ${IP.mx1}`,
    `plain IN A ${IP.plain}`,
    `other IN A ${IP.other}`,
    `wrong IN A ${IP.wrong}`,
    ...Object.entries(DOMAINS).flatMap(([d, { mx }]) => [
      ...mx.map((m) => `${d} IN MX ${m}`),
      `mta-sts.${d} IN A ${IP.https}`,
      `_mta-sts.${d} IN TXT "v=STSv1; id=${ids.get(d) ?? "1"};"`,
    ]),
  ];
  return zoneText(APEX, records, serial);
}

/** Publishes a new policy id for a domain (named reloads the zone). */
async function publishId(domain: string, id: string): Promise<void> {
  ids.set(domain, id);
  serial++;
  await named.reload([{ name: APEX, text: zone() }]);
}

before(async () => {
  named = await startTestNamed([{ name: APEX, text: zone() }]);
  smtpPort = await sharedPort([IP.mx1, IP.plain, IP.other, IP.wrong]);
  const certs = {
    mx1: await selfSignedPem(`mx1.${APEX}`),
    other: await selfSignedPem(`other.${APEX}`),
    // Trusted, but for a name that is not the MX's.
    wrong: await selfSignedPem("elsewhere.test"),
  };
  smtpCa.push(certs.mx1.cert, certs.other.cert, certs.wrong.cert);
  const start = async (p: Promise<Target>) => {
    const t = await p;
    targets.push(t);
    return t;
  };
  mx1 = await start(startTarget({ host: IP.mx1, port: smtpPort, tls: certs.mx1 }));
  plain = await start(startTarget({ host: IP.plain, port: smtpPort }));
  other = await start(startTarget({ host: IP.other, port: smtpPort, tls: certs.other }));
  wrong = await start(startTarget({ host: IP.wrong, port: smtpPort, tls: certs.wrong }));

  const contexts = new Map<string, ReturnType<typeof createSecureContext>>();
  for (const [d, { policy }] of Object.entries(DOMAINS)) {
    const host = `mta-sts.${d}.${APEX}`;
    const pem = await selfSignedPem(host);
    httpsCa.push(pem.cert);
    contexts.set(host, createSecureContext(pem));
    pages.set(`${d}.${APEX}`, { status: 200, body: policy, type: "text/plain; charset=utf-8", hits: 0 });
  }
  const fallback = await selfSignedPem("nobody.test");
  https = createHttpsServer({ ...fallback, SNICallback: (name, cb) => cb(null, contexts.get(name)) }, (req, res) => {
    const domain = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^mta-sts\./, "");
    const page = pages.get(domain);
    if (!page || req.url !== "/.well-known/mta-sts.txt") {
      res.writeHead(404).end();
      return;
    }
    page.hits++;
    res.writeHead(page.status, { "content-type": page.type }).end(page.body);
  });
  await new Promise<void>((resolve) => https.listen(0, IP.https, resolve));
  const address = https.address();
  httpsPort = typeof address === "object" && address ? address.port : 0;
});

after(async () => {
  https?.closeAllConnections();
  await new Promise((resolve) => https?.close(resolve));
  await Promise.all(targets.map((t) => t.close()));
  await named?.stop();
});

/** A clock the test moves by hand. */
function manualClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    at: () => () => {},
    advance(ms) {
      now += ms;
    },
  };
}

interface Run {
  report: TlsReport;
  logs: Array<Record<string, unknown>>;
  deliver(domain: string, local: string): Promise<RecipientResult>;
}

/** A sender with MTA-STS on (unless `sts` is false), as the daemon builds it, and what it logged and counted. */
function run(sts: Partial<MtaStsOptions> | false = {}, overrides: Partial<DeliveryOptions> = {}): Run {
  const report = createTlsReport();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const sender = createSender({
    resolver: createMxResolver({ server: named.server, timeoutMs: 2000 }),
    ehloName: `relay.${APEX}`,
    port: smtpPort,
    localAddresses: ["127.0.0.99"],
    connectTimeoutMs: 2000,
    greetingTimeoutMs: 2000,
    commandTimeoutMs: 3000,
    connectionIdleMs: 0,
    tlsCa: smtpCa,
    tlsReport: report,
    logger,
    ...(sts === false
      ? {}
      : {
          mtaSts: createMtaSts({ server: named.server, httpsPort, ca: httpsCa, report, fetchTimeoutMs: 3000, ...sts }),
        }),
    ...overrides,
  });
  return {
    report,
    logs,
    async deliver(domain, local) {
      return deliverOne(sender, APEX, domain, local, `sts-${domain}-${local}`);
    },
  };
}

describe("MTA-STS enforce", () => {
  test("an MX the policy names (by wildcard), with STARTTLS and a valid certificate: delivered over TLS", async () => {
    const r = run();
    const result = await r.deliver("enf", "e1");
    assert.equal(result.status, "delivered", result.response);
    assert.equal(result.tls, true);
    assert.equal(got(mx1, `e1@enf.${APEX}`)[0]?.secure, true);
    assert.deepEqual(
      r.report.counts().map((c) => [c.domain, c.mode, c.result, c.mx, c.count]),
      [[`enf.${APEX}`, "enforce", "success", `mx1.${APEX}`, 1]],
    );
  });

  test("the MX offers no STARTTLS: deferred, nothing sent in the clear", async () => {
    // Without a policy this server takes the message in the clear: the check below can fail.
    const control = await run(false).deliver("enfplain", "control");
    assert.equal(control.status, "delivered");
    assert.equal(control.tls, false);

    const r = run();
    const result = await r.deliver("enfplain", "p1");
    assert.equal(result.status, "deferred", result.response);
    assert.equal(result.enhanced, "4.7.5");
    assert.equal(got(plain, `p1@enfplain.${APEX}`).length, 0);
    assert.deepEqual(
      r.report.counts().map((c) => [c.mode, c.result]),
      [["enforce", "starttls-not-supported"]],
    );
  });

  test("the MX is not in the policy: deferred, never contacted", async () => {
    const before = other.connections;
    const result = await run().deliver("enfother", "o1");
    assert.equal(result.status, "deferred", result.response);
    assert.equal(result.enhanced, "4.7.5");
    assert.match(result.response, /MTA-STS policy .* allows none of its MX hosts \(other\.sts\.test\)/);
    assert.equal(other.connections, before);
    assert.equal(got(other, `o1@enfother.${APEX}`).length, 0);
  });

  test("a trusted certificate for another name: deferred", async () => {
    const r = run();
    const result = await r.deliver("enfwrong", "w1");
    assert.equal(result.status, "deferred", result.response);
    assert.equal(got(wrong, `w1@enfwrong.${APEX}`).length, 0);
    assert.deepEqual(
      r.report.counts().map((c) => c.result),
      ["certificate-host-mismatch"],
    );
  });

  test("an MX outside the policy is skipped for the next one that is in it", async () => {
    const result = await run().deliver("pref", "x1");
    assert.equal(result.status, "delivered", result.response);
    assert.equal(got(mx1, `x1@pref.${APEX}`).length, 1);
    assert.equal(got(other, `x1@pref.${APEX}`).length, 0);
  });

  test("an operator's tlsPolicy for the domain wins over the published policy", async () => {
    const r = run({}, { tlsPolicy: { [`override.${APEX}`]: "opportunistic" } });
    const result = await r.deliver("override", "v1");
    assert.equal(result.status, "delivered", result.response);
    assert.equal(pages.get(`override.${APEX}`)?.hits, 0);
  });
});

describe("MTA-STS testing", () => {
  test("delivered as before, the failures logged and counted", async () => {
    const r = run();
    const result = await r.deliver("testing", "t1");
    assert.equal(result.status, "delivered", result.response);
    assert.equal(result.tls, false);
    assert.equal(got(plain, `t1@testing.${APEX}`).length, 1);
    assert.deepEqual(
      r.report
        .counts()
        .map((c) => [c.mode, c.result, c.mx])
        .sort(),
      [
        ["testing", "starttls-not-supported", `plain.${APEX}`],
        ["testing", "validation-failure", `plain.${APEX}`],
      ],
    );
    const warnings = r.logs.filter((l) => l.level === 40).map((l) => l.msg);
    assert.ok(warnings.includes("MX host not in the MTA-STS policy"), JSON.stringify(warnings));
    assert.ok(
      warnings.some((m) => String(m).startsWith("MTA-STS testing: TLS failed")),
      JSON.stringify(warnings),
    );
  });
});

describe("the policy cache", () => {
  test("no second fetch within max_age; a new id or an expired policy fetches again; it survives a restart", async (t) => {
    const dir = await tempDir(t);
    const cacheFile = join(dir, "mta-sts.json");
    const clock = manualClock();
    const page = pages.get(`cache.${APEX}`)!;
    const mta = createMtaSts({ server: named.server, httpsPort, ca: httpsCa, cacheFile, clock });
    const deliverWith = (m = mta) => run(false, { mtaSts: m }).deliver;

    assert.equal((await deliverWith()("cache", "c1")).status, "delivered");
    assert.equal((await deliverWith()("cache", "c2")).status, "delivered");
    assert.equal(page.hits, 1, "one fetch for two deliveries within max_age");

    await publishId("cache", "2");
    assert.equal((await deliverWith()("cache", "c3")).status, "delivered");
    assert.equal(page.hits, 2, "a new id fetches the policy again");

    clock.advance(86_401_000);
    assert.equal((await deliverWith()("cache", "c4")).status, "delivered");
    assert.equal(page.hits, 3, "an expired policy is fetched again");

    // A restart: a new cache reads the file and needs no fetch for the same id.
    const restarted = createMtaSts({ server: named.server, httpsPort, ca: httpsCa, cacheFile, clock });
    assert.equal((await deliverWith(restarted)("cache", "c5")).status, "delivered");
    assert.equal(page.hits, 3, "the cached file is used after a restart");
  });

  test("a failed fetch keeps the cached policy in force, and is not retried at once", async () => {
    const page = pages.get(`keep.${APEX}`)!;
    const mta = createMtaSts({ server: named.server, httpsPort, ca: httpsCa });
    const deliver = () => run(false, { mtaSts: mta }).deliver;
    assert.equal((await deliver()("keep", "k1")).status, "deferred");
    assert.equal(page.hits, 1);

    page.status = 500;
    await publishId("keep", "2");
    const kept = await deliver()("keep", "k2");
    assert.equal(page.hits, 2, "the new id was tried");
    assert.equal(kept.status, "deferred", "the cached enforce policy still holds");
    assert.equal(got(plain, `k2@keep.${APEX}`).length, 0);
    // A policy host that fails is not asked again on every delivery.
    assert.equal((await deliver()("keep", "k3")).status, "deferred");
    assert.equal(page.hits, 2, "no second fetch of a failed id right away");
  });

  test("a record whose policy cannot be fetched, with nothing cached: delivered as without MTA-STS", async () => {
    const page = pages.get(`nofetch.${APEX}`)!;
    page.status = 404;
    const result = await run().deliver("nofetch", "n1");
    assert.equal(page.hits, 1);
    assert.equal(result.status, "delivered", result.response);
    assert.equal(got(plain, `n1@nofetch.${APEX}`).length, 1);
  });

  test("a redirect is not followed, and a policy that is not text/plain is not taken", async () => {
    const page = pages.get(`nofetch.${APEX}`)!;
    const before = page.hits;
    page.status = 301;
    assert.equal((await run().deliver("nofetch", "n2")).status, "delivered");
    page.status = 200;
    page.type = "text/html";
    assert.equal((await run().deliver("nofetch", "n3")).status, "delivered");
    assert.equal(page.hits, before + 2);
    // The same policy as text/plain is enforced: the two above were refused for what they were.
    page.type = "text/plain";
    assert.equal((await run().deliver("nofetch", "n4")).status, "deferred");
  });
});
