// Spam scoring on arrival by an optional Rspamd (inbound.rspamd): the check the backend calls
// before the final 250 (spam-check.ts), Rspamd's HTTP protocol (rspamd-client.ts), what its
// answer means and the headers that say it (verdict.ts), the client's name it is told
// (client-name.ts).
import type { Logger } from "pino";
import type { Settings } from "../../../config/settings.ts";
import type { RspamdSettings } from "../../../config/sections/inbound.ts";
import { createClientName } from "./client-name.ts";
import { createSpamCheck, type SpamCheck } from "./spam-check.ts";

export type { CheckedMessage, SpamCheck } from "./spam-check.ts";

/** Longest wait for the client's name; it counts against rspamd.timeout. */
const NAME_TIMEOUT_MS = 2000;

/** The daemon's spam check from its settings, its DNS through inbound.resolver. */
export function spamCheck(settings: Settings, rspamd: RspamdSettings, logger: Logger): SpamCheck {
  const { resolver } = settings.inbound;
  return createSpamCheck(rspamd, {
    logger: logger.child({ part: "rspamd" }),
    clientName: createClientName({
      ...(resolver !== undefined ? { server: resolver } : {}),
      timeoutMs: Math.min(NAME_TIMEOUT_MS, rspamd.timeout / 2),
    }),
  });
}
