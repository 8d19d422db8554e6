// The arrival checks as the inbound settings configure them: inbound.resolver, dnsTimeout,
// authTimeout, dmarcEnforce and uncheckedNetworks; authserv-id is the hostname setting.
import path from "node:path";
import type { Logger } from "pino";
import type { Settings } from "../../../config/settings.ts";
import { networkBlockList } from "../../../lib/ip-networks.ts";
import { peerNetworks } from "../peer-hosts.ts";
import { TEMP_DIR } from "../store/index.ts";
import { createArrivalAuth, type ArrivalAuth } from "./index.ts";
import { createAuthDns } from "./resolver.ts";

export function arrivalAuthOf(settings: Settings, logger: Logger): ArrivalAuth {
  const i = settings.inbound;
  return createArrivalAuth({
    hostname: settings.hostname,
    tempDir: path.join(path.resolve(i.mailRoot), TEMP_DIR),
    dns: createAuthDns({
      ...(i.resolver === undefined ? {} : { server: i.resolver }),
      timeoutMs: i.dnsTimeout,
      budgetMs: i.authTimeout,
    }),
    budgetMs: i.authTimeout,
    enforce: i.dmarcEnforce,
    // The other SEMail hosts checked what they hand on to us, where the sender connected.
    unchecked: networkBlockList([...i.uncheckedNetworks, ...peerNetworks(settings)]),
    logger,
  });
}
