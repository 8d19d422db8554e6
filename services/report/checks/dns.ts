// DNS as it is served against what SEMail publishes: every live domain's MX names our MX
// host and it has an SPF record; the managed domain has DMARC, MTA-STS and TLS-RPT, and
// each DKIM key the outbound daemon signs with is published with its own public key (a key
// rotated without its record makes every signature fail). Asked of outbound.delivery.resolver
// (else inbound.resolver, else the system's), so the report sees what the world sees.
import { createPublicKey } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { readFile } from "node:fs/promises";
import type { Settings } from "../../../config/settings.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { fail, ok, type Finding } from "../check.ts";

/** The resolver the report asks, per the settings; unset uses the system's. */
export function reportResolver(settings: Settings): Resolver {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  const server = settings.outbound.delivery.resolver ?? settings.inbound.resolver;
  if (server !== undefined) resolver.setServers([server]);
  return resolver;
}

export async function dnsFindings(settings: Settings, users: UsersList, resolver: Resolver): Promise<Finding[]> {
  const managed = settings.managedDomain;
  const mxHost = `mx.${managed}`;
  const txt = async (name: string) => (await resolver.resolveTxt(name)).map((parts) => parts.join(""));
  const findings: Finding[] = [];
  const domains = [...new Set([managed, ...users.mailboxes.map((m) => m.domain)])].sort();
  for (const domain of domains) {
    findings.push(
      await expect(
        `MX of ${domain}`,
        async () => {
          const hosts = (await resolver.resolveMx(domain)).map((mx) => mx.exchange.toLowerCase().replace(/\.$/, ""));
          return hosts.includes(mxHost) ? undefined : `names ${hosts.join(", ") || "nothing"}, not ${mxHost}`;
        },
        `publish \`${domain}. MX 10 ${mxHost}.\``,
      ),
      await expect(
        `SPF of ${domain}`,
        async () => ((await txt(domain)).some((t) => t.startsWith("v=spf1")) ? undefined : "no v=spf1 TXT record"),
        `publish a TXT \`v=spf1 mx -all\` at ${domain}`,
      ),
    );
  }
  findings.push(
    await expect(
      `DMARC of ${managed}`,
      async () =>
        (await txt(`_dmarc.${managed}`)).some((t) => t.startsWith("v=DMARC1")) ? undefined : "no v=DMARC1 TXT record",
      `publish a TXT \`v=DMARC1; p=quarantine\` at _dmarc.${managed}`,
    ),
    await expect(
      `MTA-STS of ${managed}`,
      async () =>
        (await txt(`_mta-sts.${managed}`)).some((t) => t.startsWith("v=STSv1")) ? undefined : "no v=STSv1 TXT record",
      `publish the _mta-sts.${managed} TXT record of the zone the program renders`,
    ),
    await expect(
      `TLS-RPT of ${managed}`,
      async () =>
        (await txt(`_smtp._tls.${managed}`)).some((t) => t.startsWith("v=TLSRPTv1"))
          ? undefined
          : "no v=TLSRPTv1 TXT record",
      `publish the _smtp._tls.${managed} TXT record of the zone the program renders`,
    ),
  );
  for (const key of settings.outbound.delivery.dkim) {
    const name = `${key.selector}._domainkey.${key.domain}`;
    findings.push(
      await expect(
        `DKIM ${name}`,
        async () => {
          const ours = createPublicKey(await readFile(key.privateKeyFile, "utf8"))
            .export({ type: "spki", format: "der" })
            .toString("base64");
          const published = (await txt(name))
            .map((t) => /(?:^|;)\s*p=([^;\s]*)/.exec(t)?.[1])
            .filter((p) => p !== undefined);
          if (published.length === 0) return "no DKIM record";
          return published.includes(ours) ? undefined : "the published key is not the one outbound signs with";
        },
        `publish the public key of ${key.privateKeyFile} at ${name} (the zone the program renders has it)`,
      ),
    );
  }
  return findings;
}

/** OK when `problem` finds none; a failed lookup (NXDOMAIN, no answer, timeout) is the problem. */
async function expect(subject: string, problem: () => Promise<string | undefined>, fix: string): Promise<Finding> {
  let found: string | undefined;
  try {
    found = await problem();
  } catch (err) {
    found = `lookup failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  return found === undefined ? ok("dns", subject, "as published") : fail("dns", subject, found, fix);
}
