// Mozilla's autoconfig on the web form (config/autoconfig.ts renders it): for a domain with a
// live mailbox now, no login and no directory; 404 with the reason for any other. In
// production the VM's webmail nginx serves the same documents (components/webmail-server.ts).
// Beside it, the MTA-STS policy for mta-sts.<domain> of the managed domain and each live mail
// domain, with the default settings (config/stack/transport-security.ts): local mode's zone
// publishes that policy's id. Over the form's own scheme (plain HTTP in local mode, where
// senders would need HTTPS); in production the webmail's nginx serves it, from the stack's settings.
import type { FastifyInstance } from "fastify";
import { askedDomain, AUTOCONFIG_PATHS, autoconfigXml, notServedText } from "../config/autoconfig.ts";
import type { MailClientServers } from "../config/mail-clients.ts";
import type { UsersList } from "../config/users-list.ts";
import {
  DEFAULT_TRANSPORT_SECURITY,
  MTA_STS_HOST_LABEL,
  MTA_STS_PATH,
  mtaStsPolicy,
} from "../config/stack/transport-security.ts";

export interface AutoconfigOptions {
  /** The managed domain: the provider's id and name. */
  readonly provider: string;
  readonly servers: MailClientServers;
  /** The users list now (its live mailboxes' domains are the ones answered). */
  readonly list: () => Promise<UsersList>;
}

export function registerAutoconfigRoutes(app: FastifyInstance, options: AutoconfigOptions): void {
  for (const path of AUTOCONFIG_PATHS) {
    app.get<{ Querystring: { emailaddress?: unknown } }>(path, async (request, reply) => {
      const address = typeof request.query.emailaddress === "string" ? request.query.emailaddress : undefined;
      const domain = askedDomain(address, request.hostname);
      // Live mailboxes only: a pending claim's domain is not (yet) served here.
      if (!(await options.list()).hasDomain(domain))
        return reply.code(404).type("text/plain; charset=utf-8").send(notServedText(domain));
      return reply
        .type("application/xml; charset=utf-8")
        .send(autoconfigXml(domain, options.provider, options.servers));
    });
  }
  const policy = mtaStsPolicy(options.provider, DEFAULT_TRANSPORT_SECURITY);
  app.get(MTA_STS_PATH, async (request, reply) => {
    const host = request.hostname.toLowerCase().replace(/:\d+$/, "");
    const prefix = `${MTA_STS_HOST_LABEL}.`;
    const domain = host.startsWith(prefix) ? host.slice(prefix.length) : "";
    if (domain === "" || (domain !== options.provider && !(await options.list()).hasDomain(domain)))
      return reply
        .code(404)
        .type("text/plain; charset=utf-8")
        .send(notServedText(domain || host));
    return reply.type("text/plain; charset=utf-8").send(policy);
  });
}
