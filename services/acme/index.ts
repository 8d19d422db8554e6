// The certificate manager's face: renewCertificate (manager.ts) wired from the settings, for
// `semail cert` and the VM's timer; the challenge publishers and reloads for local mode and tests.
import type { Logger } from "pino";
import type { Settings } from "../../config/settings.ts";
import { installedZonePublisher } from "./challenges.ts";
import { renewCertificate, type CertificateStatus } from "./manager.ts";
import { commandReload } from "./reloads.ts";

export {
  CHALLENGE_TAG,
  httpChallengeFiles,
  installedZonePublisher,
  serveHttpChallenges,
  withChallengeRecords,
  type ChallengeRecord,
  type PublishChallengeRecords,
} from "./challenges.ts";
export { readCertificateStatus, renewalTime, renewCertificate, type CertificateStatus } from "./manager.ts";
export { commandReload, type Reload } from "./reloads.ts";

/** One run as the settings say: the zone file and installer for DNS-01, the reload commands. */
export function renewFromSettings(settings: Settings, logger: Logger, force = false): Promise<CertificateStatus> {
  const a = settings.acme;
  return renewCertificate({
    settings,
    logger,
    force,
    ...(a.challenge === "dns-01" && a.zoneFile !== undefined
      ? {
          dns01: installedZonePublisher({
            domain: settings.managedDomain,
            zoneFile: a.zoneFile,
            install: a.installZone,
          }),
        }
      : {}),
    reloads: a.reload.map((argv) => commandReload(argv)),
  });
}
