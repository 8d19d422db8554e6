// The settings file (config/settings.ts format) the SMTP daemon containers read. Pure.
import { dirname } from "node:path";
import { stringify } from "yaml";
import { mailHostName } from "../mail-clients.ts";
import { directoryLayout } from "../sections/ldap.ts";
import { formatSize } from "../size.ts";
import type { StackConfig } from "./stack-config.ts";
import { METRICS_PORTS } from "./metrics-stack-settings.ts";

/**
 * The secret both daemons read (mode 0600, made on the VM at the first deploy, never leaving it):
 * inbound logs in to outbound with it to send forwards and lists' remote copies, and it keys SRS.
 */
export const FORWARD_SECRET_PATH = "/etc/semail/secrets/forward.secret";

/** YAML settings for both daemons; `ldapUrl` is the directory as seen from the containers. */
export function daemonSettings(config: StackConfig, ldapUrl: string): string {
  return stringify({
    hostname: `mx.${config.managedDomain}`,
    managedDomain: config.managedDomain,
    users: config.usersListRemote,
    // Which entries of the list are this host's; inbound hands mail for the others' on to them.
    hostName: config.hostName,
    ...(Object.keys(config.hosts).length > 0 ? { hosts: config.hosts } : {}),
    defaultMailboxSize: formatSize(config.defaultMailboxSize),
    minMailboxSize: formatSize(config.minMailboxSize),
    tls: { cert: config.tlsCert, key: config.tlsKey },
    ldap: {
      url: ldapUrl,
      baseDn: config.ldapBaseDn,
      userDnTemplate: directoryLayout(config.ldapBaseDn).userDnTemplate,
      adminGroupDn: directoryLayout(config.ldapBaseDn).adminGroupDn,
    },
    inbound: {
      listen: ["[::]:25", "[::]:587", "[::]:465/tls"],
      mailRoot: config.mailRoot,
      // Authenticated mail on 587/465 goes to outbound over the daemons' network, where both
      // containers are (alias semail-outbound): the VM's loopback is not the container's,
      // and the users' network is for the users' containers. Not loopback, so STARTTLS,
      // checked against tls.cert for the hostname: the certificate both daemons present.
      submission: { outbound: "semail-outbound:587" },
      // The directory's groups with a mail are mailing lists (ou=groups, which the directory image makes).
      lists: { enabled: true },
      // Every interface of the container: the VM publishes the port on its loopback, and on its
      // public addresses only for semail:metricsScrapeFrom, behind the firewall (components/stack.ts).
      metricsListen: `0.0.0.0:${METRICS_PORTS.inbound}`,
    },
    // Every interface of the container: the users' network (.2), the daemons' network
    // (inbound's hand-off) and the one the VM's loopback publish lands on. None is public, but
    // the daemon cannot tell from inside, so it is told (without it, it refuses a wildcard).
    outbound: {
      listen: ["0.0.0.0:587"],
      forcePublicListen: true,
      spool: config.spool,
      forwardSecretFile: FORWARD_SECRET_PATH,
      metricsListen: `0.0.0.0:${METRICS_PORTS.outbound}`,
    },
    // `semail report` reads these settings too, in inbound's network with the host's Docker socket
    // (components/report-schedule.ts): mail leaves from the VM's addresses; the containers are the stack's.
    report: {
      outboundAddresses: [config.vmIp, ...(config.vmIp6 ? [config.vmIp6] : [])],
      dockerSocket: "/var/run/docker.sock",
      containers: [
        "semail-inbound",
        "semail-outbound",
        "semail-imap",
        "semail-ldap",
        ...(config.webmailPort === 0 ? [] : ["semail-webmail"]),
      ],
      imapHost: "semail-imap",
      ...(config.webmailPort === 0 ? {} : { httpsUrls: [webmailUrl(config)] }),
    },
  });
}

/** The webmail's address, whose certificate the report checks. */
function webmailUrl(config: Pick<StackConfig, "managedDomain" | "webmailPort">): string {
  const port = config.webmailPort === 443 ? "" : `:${config.webmailPort}`;
  return `https://${mailHostName(config.managedDomain)}${port}/`;
}

/** The directory the users list lives in on the VM (mounted whole into the daemons). */
export function usersDir(config: Pick<StackConfig, "usersListRemote">): string {
  return dirname(config.usersListRemote);
}
