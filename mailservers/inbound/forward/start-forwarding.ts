// Forwarding from the settings: with outbound.forwardSecretFile set, the forward secret (its
// login and SRS key) and a forwarder that hands over to outbound where inbound.submission.outbound
// says (plain on loopback, else STARTTLS with the certificate checked, as submission does).
// Unset: no forwards; a mailbox with a forward only stores, and start-up says so.
import path from "node:path";
import type { Logger } from "pino";
import type { Settings } from "../../../config/settings.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { readForwardSecret, type ForwardSecret } from "../../core/forward-secret.ts";
import { createSrs, type Srs } from "../../core/srs.ts";
import { TEMP_DIR, type MboxStore } from "../store/index.ts";
import { createHandoff, type HandoffTarget } from "../submission-handoff.ts";
import { handoffTarget } from "../submission-settings.ts";
import { createForwarder, type Forwarder } from "./forwarder.ts";

export interface ForwardingSettings {
  readonly secret: ForwardSecret;
  readonly target: HandoffTarget;
}

/** The secret and outbound's address, read before anything is started: a bad file stops start-up (ConfigError). */
export async function forwardingSettings(settings: Settings): Promise<ForwardingSettings | undefined> {
  const file = settings.outbound.forwardSecretFile;
  if (file === undefined) return undefined;
  return { secret: await readForwardSecret(file), target: await handoffTarget(settings) };
}

export function startForwarding(
  settings: Settings,
  forwarding: ForwardingSettings | undefined,
  parts: {
    readonly store: MboxStore;
    readonly users: UsersList;
    readonly clock?: () => number;
    readonly logger: Logger;
  },
): { readonly forwarder: Forwarder; readonly srs: Srs } | undefined {
  if (forwarding === undefined) {
    const forwards = parts.users.mailboxes.filter((m) => m.forward).length;
    if (forwards > 0)
      parts.logger.warn(
        { mailboxes: forwards },
        "outbound.forwardSecretFile is not set: forwards are not sent, their mail is stored",
      );
    return undefined;
  }
  const { secret, target } = forwarding;
  const srs = createSrs({ key: secret.srsKey, domain: settings.managedDomain, now: parts.clock ?? Date.now });
  const logger = parts.logger.child({ part: "forward" });
  const forwarder = createForwarder({
    secret,
    srs,
    handoff: createHandoff({ target, hostname: settings.hostname, logger }),
    store: parts.store,
    tempDir: path.join(path.resolve(settings.inbound.mailRoot), TEMP_DIR),
    logger,
  });
  return { forwarder, srs };
}
