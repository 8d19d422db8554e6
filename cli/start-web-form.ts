// The web form as `semail start` runs it, over local mode's parts: its own submission port,
// the mbox files or the containers for reading, the claim's stand-in zone before each proof look.
import { usersListOptions, type Settings } from "../config/settings.ts";
import { createDirectory } from "../directory/ldap.ts";
import { servingClaimZoneFirst } from "../deploy/local/local-dns.ts";
import type { LocalWebForm, LocalWebFormParts } from "../deploy/local/web-form-parts.ts";
import { buildWebApp } from "../webform/app.ts";
import { createProofLookup } from "../webform/domain-proof.ts";

function withoutWebmailLink(web: Settings["web"]): Settings["web"] {
  const { webmailUrl: _unused, ...rest } = web;
  return rest;
}

/** Builds the form and listens on web.listen. */
export async function startLocalWebForm(parts: LocalWebFormParts): Promise<LocalWebForm> {
  const { settings, logger } = parts;
  const lookupProof = createProofLookup({ servers: settings.web.dnsServers });
  const directory = createDirectory(settings.ldap, { logger: logger.child({ service: "ldap" }) });
  const { app, runner } = await buildWebApp({
    directory,
    usersFile: settings.users,
    usersListOptions: usersListOptions(settings),
    applier: parts.applier,
    // No link to a webmail that is not running (not root): the page would show a dead one.
    web: parts.webmailRuns ? settings.web : withoutWebmailLink(settings.web),
    logger: logger.child({ service: "web" }),
    mailClients: parts.mailClients,
    transport: parts.transport,
    usage: parts.usage,
    largestMessage: parts.largestMessage,
    // The administrators' health report: `semail report`'s checks on local mode's settings.
    report: { settings },
    // This machine's own submission port; the owner's container or mbox file.
    mailAccess: {
      submission: settings.outbound.listen[0]!,
      ...(settings.web.webmailUrl !== undefined ? { webmailUrl: settings.web.webmailUrl } : {}),
      reading: parts.reading,
    },
    // The claim's stand-in zone is served before each look, the first one included.
    proofLookup: servingClaimZoneFirst(parts.dns, parts.claimZones, lookupProof, (err) =>
      logger.warn({ err: err.message }, "zone files not reloaded"),
    ),
  });
  const close = async () => {
    await app.close();
    await directory.close();
  };
  try {
    await app.listen({ host: settings.web.listen.host, port: settings.web.listen.port });
  } catch (err) {
    await close();
    throw err;
  }
  return { runner, close };
}
