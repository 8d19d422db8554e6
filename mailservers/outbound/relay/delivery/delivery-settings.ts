// Builds the sender's options from the validated settings: reads the DKIM key files and the
// relay password file once, so a missing file stops start-up naming the setting.
import { join } from "node:path";
import type { Logger } from "pino";
import type { Settings } from "../../../../config/settings.ts";
import { ConfigError } from "../../../../config/settings.ts";
import { readSettingFile } from "../../../../config/tls-files.ts";
import { createDane } from "./tls-policy/dane.ts";
import { createDkimSigner } from "./dkim.ts";
import { createMtaSts } from "./tls-policy/mta-sts-cache.ts";
import { createMxResolver } from "./mx.ts";
import type { DeliveryOptions } from "./send.ts";

/**
 * `hosted` tells whether a domain has mailboxes here (the users list): an external domain
 * whose MX is this machine is delivered to the inbound daemon, not bounced as a loop.
 */
export async function deliveryOptionsFromSettings(
  settings: Settings,
  logger?: Logger,
  hosted?: (domain: string) => boolean,
): Promise<DeliveryOptions> {
  const d = settings.outbound.delivery;
  const ehloName = d.ehloName ?? settings.hostname;
  const keys = await Promise.all(
    d.dkim.map(async (k, i) => ({
      domain: k.domain,
      selector: k.selector,
      privateKey: await readSettingFile(k.privateKeyFile, `outbound.delivery.dkim[${i}].privateKeyFile`),
    })),
  );
  let dkim;
  try {
    dkim = keys.length ? createDkimSigner(keys) : undefined;
  } catch (err) {
    throw new ConfigError(`outbound.delivery.${(err as Error).message}`);
  }
  let relayHost: DeliveryOptions["relayHost"];
  if (d.relayHost) {
    const r = d.relayHost;
    const pass =
      r.passwordFile === undefined
        ? undefined
        : (await readSettingFile(r.passwordFile, "outbound.delivery.relayHost.passwordFile")).replace(/\r?\n$/, "");
    relayHost = {
      host: r.host,
      port: r.port,
      secure: r.secure,
      verifyTls: r.verifyTls,
      ...(r.user !== undefined && pass !== undefined ? { auth: { user: r.user, pass } } : {}),
    };
  }
  return {
    resolver: createMxResolver({
      ...(d.resolver === undefined ? {} : { server: d.resolver }),
      timeoutMs: d.dnsTimeout,
    }),
    ehloName,
    port: d.smtpPort,
    ipFamily: d.ipFamily,
    connectTimeoutMs: d.connectTimeout,
    greetingTimeoutMs: d.greetingTimeout,
    commandTimeoutMs: d.commandTimeout,
    connectionIdleMs: d.connectionIdleTime,
    // No more sessions are ever in use at once than deliveries, so no more are worth keeping idle.
    maxIdleConnections: settings.outbound.concurrency,
    tlsPolicy: d.tls,
    ...(d.mtaSts
      ? {
          mtaSts: createMtaSts({
            ...(d.resolver === undefined ? {} : { server: d.resolver }),
            dnsTimeoutMs: d.dnsTimeout,
            fetchTimeoutMs: d.mtaStsFetchTimeout,
            // Beside the queue, in the directory the daemon creates (mode 0700) before the sender.
            cacheFile: join(settings.outbound.spool, "mta-sts.json"),
          }),
        }
      : {}),
    // DANE rests on the AD bit, so only a resolver the operator named (a local validating one) is asked.
    ...(d.dane && d.resolver !== undefined
      ? { dane: createDane({ server: d.resolver, timeoutMs: d.dnsTimeout }) }
      : {}),
    ...(relayHost ? { relayHost } : {}),
    ...(dkim ? { dkim } : {}),
    localNames: [ehloName, settings.hostname, ...d.localNames],
    // Our managed domain, its subdomains and the users' external domains are received here: their MX being this machine is
    // the normal way in (inbound daemon), not a loop.
    isLocalDomain: (domain) =>
      domain === settings.managedDomain || domain.endsWith(`.${settings.managedDomain}`) || (hosted?.(domain) ?? false),
    ...(d.localAddresses ? { localAddresses: d.localAddresses } : {}),
    ...(logger ? { logger } : {}),
  };
}
