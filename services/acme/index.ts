// The certificate manager's face: renewCertificate (manager.ts) wired from the settings, for
// `semail cert` and the VM's timer; the challenge publishers and reloads for local mode and tests.
import type { Logger } from "pino";
import type { Settings } from "../../config/settings.ts";
import { installedZonePublisher } from "./challenges.ts";
import { renewHostCertificates, type HostCertificatesStatus } from "./host-certificates.ts";
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
export {
  readHostCertificatesStatus,
  renewHostCertificates,
  type HostCertificateStatus,
  type HostCertificatesStatus,
} from "./host-certificates.ts";

/** One run as the settings say: the main certificate, then the policy hosts' (acme.hosts), each alone. */
export async function renewFromSettings(
  settings: Settings,
  logger: Logger,
  force = false,
): Promise<CertificateStatus & { readonly hosts?: HostCertificatesStatus }> {
  const a = settings.acme;
  const options = {
    settings,
    logger,
    force,
    // Whenever a zone is named: a host certificate may ask for DNS-01 while the main one uses HTTP-01.
    ...(a.zoneFile !== undefined
      ? {
          dns01: installedZonePublisher({
            domain: settings.managedDomain,
            zoneFile: a.zoneFile,
            install: a.installZone,
          }),
        }
      : {}),
    reloads: a.reload.map((argv) => commandReload(argv)),
  };
  const main = await renewCertificate(options);
  // The hosts even when the main one failed: theirs are other names, maybe another challenge.
  return a.hosts.length === 0 ? main : { ...main, hosts: await renewHostCertificates(options) };
}
