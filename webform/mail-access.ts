// How an owner sends and reads mail, as the mailbox page tells it: from the deployment's own
// settings (web.submission, web.webmailUrl) and what the last apply made (the SSH line of
// the owner's container, the webmail it runs), or local mode's real ports and files.
import { setTimeout as sleep } from "node:timers/promises";
import type { Applier } from "../config/applier.ts";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Where the owner reads their mail. */
export type Reading =
  /** Production: a shell in the owner's own container, the mailbox filesystem mounted at /mail. */
  | { readonly kind: "ssh"; readonly command: string }
  /** Local mode: the mbox files on this machine. */
  | { readonly kind: "files"; readonly inbox: string };

export interface MailAccess {
  /** The outbound daemon as the owner's mail program reaches it; the login is the LDAP uid. */
  readonly submission: HostPort;
  /** A webmail to link to; none exists unless the operator set one up. */
  readonly webmailUrl?: string;
  /** How `owner` reads their mail; undefined while not known (no container yet, or no applier that knows). */
  reading(owner: string): Promise<Reading | undefined>;
}

/** "host:port" or "[v6]:port" (web.submission, already validated) as its parts. */
export function parseHostPort(text: string): HostPort {
  const colon = text.lastIndexOf(":");
  return { host: text.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port: Number(text.slice(colon + 1)) };
}

/** Production's: the settings' submission address and webmail, the applier's SSH lines. */
export function mailAccessFromSettings(
  web: { readonly submission: string; readonly webmailUrl?: string | undefined },
  applier: Pick<Applier, "sshCommand">,
): MailAccess {
  return {
    submission: parseHostPort(web.submission),
    ...(web.webmailUrl !== undefined ? { webmailUrl: web.webmailUrl } : {}),
    async reading(owner) {
      const command = await applier.sshCommand?.(owner);
      return command === undefined ? undefined : { kind: "ssh", command };
    },
  };
}

/**
 * The webmail to link to: web.webmailUrl when set, else the one the deployment runs (the
 * stack output webmailUrl, components/webmail-server.ts), asked once at start; none when the
 * applier does not answer within `waitMs`.
 */
export async function webmailLink(
  web: { readonly webmailUrl?: string | undefined },
  applier: Pick<Applier, "webmailUrl">,
  waitMs: number,
): Promise<string | undefined> {
  if (web.webmailUrl !== undefined || applier.webmailUrl === undefined) return web.webmailUrl;
  const late = sleep(waitMs, undefined, { ref: false });
  return Promise.race([applier.webmailUrl().catch(() => undefined), late]);
}
