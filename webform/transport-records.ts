// MTA-STS and TLS-RPT for an external domain: the records its owner is told to add, beside
// the MX. The zone carries them for the managed domain and its subdomains; an external
// domain's zone is its owner's, so the page shows the lines, with the id of the policy this
// deployment serves for that domain (config/stack/transport-security.ts, the one source).
// Recommended only: a claim goes live on its proof alone, and mail flows without them.
import type { Applier } from "../config/applier.ts";
import { mailHostName } from "../config/mail-clients.ts";
import {
  DEFAULT_TRANSPORT_SECURITY,
  MTA_STS_HOST_LABEL,
  tlsRptRecord,
  transportRecordsFor,
  type TransportSecurity,
} from "../config/stack/transport-security.ts";
import { codeLines, html, type Html } from "./html.ts";

export interface TransportRecordsView {
  readonly managedDomain: string;
  /** The MX the page tells the owner to add. */
  readonly mxHost: string;
  readonly transport: TransportSecurity;
}

/** The part of an external domain's DNS section about MTA-STS and TLS-RPT. */
export function transportRecordsSection(domain: string, o: TransportRecordsView): Html {
  // The policy names mx.<managedDomain> only: with another MX (web.mxHost), an enforcing sender would refuse it.
  if (o.mxHost !== mailHostName(o.managedDomain))
    return html`<p id="transport-records" class="hint">MTA-STS is not offered for ${domain}: this server's policy names ${mailHostName(o.managedDomain)}, not the MX above (${o.mxHost}).</p>`;
  const rua = /rua=(.*)$/.exec(tlsRptRecord(o.managedDomain, o.transport.tlsRptRua))?.[1] ?? "";
  return html`<p id="transport-records">Recommended, not needed for the mailbox to go live: with these records, servers that send mail to ${domain} deliver it only over TLS to ${o.mxHost} with a valid certificate (MTA-STS), and report TLS failures to ${rua} (TLS-RPT). The ${MTA_STS_HOST_LABEL}.${domain} line points that name at this server, which then gets a certificate naming it (Let's Encrypt checks it over HTTP, within a day) and serves the policy there: without it, senders cannot fetch the policy and ignore it. The id changes when this server's policy does; this page always shows the current one.</p>
${codeLines(transportRecordsFor(domain, o.managedDomain, o.transport))}`;
}

/**
 * The settings the deployment publishes, as its applier reads them; SEMail's defaults (and
 * why) when it has none to tell or does not answer within `waitMs`.
 */
export async function deployedTransport(
  applier: Pick<Applier, "transportSecurity">,
  waitMs: number,
): Promise<{ readonly transport: TransportSecurity; readonly problem?: string }> {
  if (applier.transportSecurity === undefined) return { transport: DEFAULT_TRANSPORT_SECURITY };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${waitMs} ms`)), waitMs);
  });
  try {
    return { transport: await Promise.race([applier.transportSecurity(), late]) };
  } catch (err) {
    return { transport: DEFAULT_TRANSPORT_SECURITY, problem: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
