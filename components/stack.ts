// The whole deployment from validated config, secrets and the users list. index.ts calls
// this once; the tests call it under Pulumi's mocks once per scenario.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as gandi from "@pulumiverse/gandi";
import * as command from "@pulumi/command";
import { autoconfigFiles } from "../config/autoconfig.ts";
import { imapUsers, renderUsersFile } from "../config/imap-users.ts";
import { mailHostName, STANDARD_MAIL_CLIENT_PORTS } from "../config/mail-clients.ts";
import { serializeUsersList, type UsersList } from "../config/users-list.ts";
import { MAIN_HOST } from "../config/mailbox-host.ts";
import { mailboxesHere } from "../config/mailboxes-here.ts";
import { domainMx, mainMx } from "../config/stack/mx-hosts.ts";
import { METRICS_PORTS, scrapeTargets } from "../config/stack/metrics-stack-settings.ts";
import { MetricsScrape } from "./metrics-scrape.ts";
import { dockerSsh, dom0Connection, vmConnection, vmSshTarget } from "./connections.ts";
import { HostCommand } from "./host-command.ts";
import { daemonSettings, FORWARD_SECRET_PATH, usersDir } from "../config/stack/daemon-settings.ts";
import { DnsZone, ZONE_DIR } from "./dns-zone.ts";
import { APT_PROXY_PORT } from "../config/stack/apt-proxy.ts";
import { hostScript } from "../config/stack/host-script-paths.ts";
import {
  mtaStsFiles,
  parseTlsaOutput,
  tlsaReadCommand,
  type TransportSecurity,
} from "../config/stack/transport-security.ts";
import { AcmeCertificate } from "./acme-certificate.ts";
import { policyHostCertificates } from "../config/stack/acme-stack-settings.ts";
import { AptProxy } from "./apt-proxy.ts";
import { BackupSchedule } from "./backup-schedule.ts";
import { ReportSchedule } from "./report-schedule.ts";
import { BanWatcher } from "./ban-watcher.ts";
import { HostScripts } from "./host-scripts.ts";
import { ImapServer } from "./imap-server.ts";
import { LDAP_HOST, LdapServer } from "./ldap-server.ts";
import { Mailbox, type MailboxStorage } from "./mailbox.ts";
import { SemailImage, type ImageRole } from "./semail-image.ts";
import { shellLine } from "../lib/shell.ts";
import { OUTBOUND_PORT, SmtpDaemon } from "./smtp-daemon.ts";
import { stackTransportSecurity, type StackConfig } from "../config/stack/stack-config.ts";
import { USERS_BRIDGE, UsersNetwork } from "./users-network.ts";
import { VolumeGroup } from "./volume-group.ts";
import { WebmailServer } from "./webmail-server.ts";
import { renderAddressFile } from "../config/webmail-addresses.ts";
import { XenVm } from "./xen-vm.ts";

export interface StackSecrets {
  /** Private SSH key for dom0 and the VM. */
  readonly sshPrivateKey: pulumi.Input<string>;
  /** Password of the LDAP admin DN (needed for the local slapd). */
  readonly ldapPassword?: pulumi.Input<string> | undefined;
  /** Gandi API key (needed when dnsProvider is gandi). */
  readonly gandiApiKey?: pulumi.Input<string> | undefined;
  /** ACME account key (PEM); set, the VM gets its certificate from the acmeDirectoryUrl CA (components/acme-certificate.ts). */
  readonly acmeAccountKey?: pulumi.Input<string> | undefined;
  /** The restic repository's password (needed when backupRepository is set; components/backup-schedule.ts). */
  readonly backupPassword?: pulumi.Input<string> | undefined;
}

export interface StackOutputs {
  readonly vmAddress: pulumi.Output<string>;
  readonly ldapUrl: string;
  /** The zone as rendered (serial 1), for review. */
  readonly zone: pulumi.Output<string>;
  /** address -> the MX record an external domain's owner must add. */
  readonly externalMxRecords: Record<string, string>;
  /** owner -> the user's container address on the users' network. */
  readonly userSshAddresses: Record<string, pulumi.Output<string>>;
  /** owner -> the exact ssh command that reaches the user's container through the VM. */
  readonly userSshCommands: Record<string, pulumi.Output<string>>;
  /** The webmail's address (the web form links to it), when one runs. */
  readonly webmailUrl: string | undefined;
  /** Each daemon's metrics as `host:port`: on the VM's loopback, or its public addresses for semail:metricsScrapeFrom. */
  readonly scrapeTargets: readonly string[];
}

/** Where the users' containers keep their SSH host keys on the VM. */
export const HOST_KEYS_DIR = "/var/lib/semail/host-keys";
/** The apt proxy's cache on the VM. */
export const APT_CACHE_DIR = "/var/cache/semail/apt";

/**
 * Where the DKIM private keys are kept on the VM, for the backups (the stack publishes only the
 * public keys, dkimKeys); `semail backup` skips it while it does not exist.
 */
export const DKIM_KEYS_DIR = "/etc/semail/dkim";
/** `semail cert`'s account key and settings, and its state (components/acme-certificate.ts). */
export const ACME_CONFIG_DIR = "/etc/semail/acme";
export const ACME_STATE_DIR = "/var/lib/semail/acme";

/** The data disk as the VM sees it (XenVm attaches it as xvdb). */
export const VM_DATA_DEVICE = "/dev/xvdb";

/** Reasons the stack cannot be built from this config; empty when it can. */
export function stackProblems(config: StackConfig, secrets: StackSecrets): string[] {
  const problems: string[] = [];
  if (config.dnsProvider === "gandi" && secrets.gandiApiKey === undefined) {
    problems.push(
      "semail:gandiApiKey is required when semail:dnsProvider is gandi (pulumi config set --secret gandiApiKey KEY)",
    );
  }
  // HTTP-01: the CA fetches its challenge on port 80, which the webmail's nginx answers.
  if (
    secrets.acmeAccountKey !== undefined &&
    config.acmeChallenge === "http-01" &&
    (config.webmailPort === 0 || config.webmailHttpPort !== 80)
  ) {
    problems.push(
      "semail:acmeChallenge http-01: the CA checks the names on port 80, which the webmail's nginx answers: keep semail:webmailPort on and semail:webmailHttpPort 80, or use dns-01 (semail:dnsProvider bind)",
    );
  }
  if (config.backupRepository !== "" && secrets.backupPassword === undefined) {
    problems.push(
      "semail:backupPassword is required when semail:backupRepository is set: restic encrypts the repository with it (pulumi config set --secret backupPassword PASSWORD)",
    );
  }
  // Only the main host publishes the zone (several stacks would fight over its records).
  if (secrets.acmeAccountKey !== undefined && config.acmeChallenge === "dns-01" && config.hostName !== MAIN_HOST) {
    problems.push(
      `semail:acmeChallenge dns-01 writes its challenge into the zone on this VM's named, which only the ${MAIN_HOST} host publishes (semail:hostName is ${config.hostName}): use http-01 on this host (pulumi config set acmeChallenge http-01)`,
    );
  }
  if (config.ldapUrl === "" && secrets.ldapPassword === undefined) {
    problems.push(
      "semail:ldapPassword is required for the local slapd (pulumi config set --secret ldapPassword PASSWORD), or set semail:ldapUrl",
    );
  }
  return problems;
}

export function defineStack(
  config: StackConfig,
  secrets: StackSecrets,
  users: UsersList,
  projectDir: string,
): StackOutputs {
  // Every mailbox's MX from its host (config/stack/mx-hosts.ts): a host the settings do not name is a problem.
  const mailboxMx = domainMx(users.mailboxes, config.hosts, config.managedDomain, "semail:hosts");
  const problems = [...stackProblems(config, secrets), ...mailboxMx.problems];
  if (problems.length > 0) throw new Error(`invalid stack configuration:\n  ${problems.join("\n  ")}`);
  // What this host makes filesystems, containers and IMAP users for; the daemons read the whole list.
  const here = mailboxesHere(users, config.hostName);
  const isMain = config.hostName === MAIN_HOST;
  // This host's MX name: the main host's is mx.<domain>; another's, its own entry in semail:hosts.
  // (parseStackConfig requires that entry on a host other than main.)
  const ownMx = (isMain ? undefined : config.hosts[config.hostName]?.mx) ?? mainMx(config.managedDomain);
  const privateKey = pulumi.secret(secrets.sshPrivateKey);
  const dom0 = dom0Connection(config, privateKey);
  const vmConn = vmConnection(config, privateKey);

  // The Xen VM, made on dom0; or an existing Debian host, already there at vmIp.
  const vm =
    config.vmProvider === "xen"
      ? new XenVm("vm", {
          dom0,
          name: config.vmName,
          ip: config.vmIp,
          gateway: config.vmGateway,
          netmask: config.vmNetmask,
          bridge: config.vmBridge,
          vcpus: config.vmVcpus,
          memory: config.vmMemory,
          diskSize: config.vmDiskSize,
          distribution: config.vmDistribution,
          dataDisk: config.vmDataDisk,
        })
      : undefined;
  const onVm = { dependsOn: vm ? [vm] : [] };
  const scripts = new HostScripts(
    "host-scripts",
    {
      vm: vmConn,
      projectDir,
      directories: [
        config.mailRoot,
        config.spool,
        usersDir(config),
        "/var/lib/semail/ldap",
        HOST_KEYS_DIR,
        APT_CACHE_DIR,
      ],
    },
    onVm,
  );
  const vg =
    config.storageBackend === "lvm"
      ? new VolumeGroup(
          "volume-group",
          { vm: vmConn, vgName: config.vgName, device: vm ? VM_DATA_DEVICE : config.vmDataDisk },
          onVm,
        )
      : undefined;

  // The users list the daemons read: installed atomically (write, then rename), and read
  // back at a refresh, so a hand edit on the VM is drift.
  const vmSsh = vmSshTarget(config, privateKey);
  const usersFile = new HostCommand(
    "users-list",
    {
      connection: vmSsh,
      create: shellLine(
        "sh",
        "-c",
        `cat > "$1.new" && chmod 0640 "$1.new" && mv -f "$1.new" "$1"`,
        "install-users-list",
        config.usersListRemote,
      ),
      stdin: serializeUsersList(users.entries),
      check: shellLine("sh", "-c", `stat -c %a "$1" && sha256sum < "$1"`, "check-users-list", config.usersListRemote),
      delete: shellLine("rm", "-f", config.usersListRemote),
    },
    { dependsOn: [scripts] },
  );

  const gandiProvider =
    config.dnsProvider === "gandi"
      ? new gandi.Provider("gandi", { key: pulumi.secret(secrets.gandiApiKey!) })
      : undefined;
  const transport: TransportSecurity = stackTransportSecurity(config);
  // The zone, from the whole list (every host's mailboxes, each domain with its host's MX): the
  // main host publishes it; another host's stack would only fight over the same records.
  const zone = isMain
    ? new DnsZone(
        "zone",
        {
          zone: {
            domain: config.managedDomain,
            ipv4: config.vmIp,
            ipv6: config.vmIp6,
            mailboxDomains: users.mailboxes.map((m) => m.domain),
            mailboxMx: mailboxMx.mx,
            otherHosts: Object.entries(config.hosts).flatMap(([name, host]) => (name === MAIN_HOST ? [] : [host])),
            dkim: config.dkimKeys,
            transport,
          },
          // DANE: the MX key's hash (and during a rollover the next key's), read from the files on the
          // VM, for its TLSA record. Read again when a path changes, which each step of a rollover does.
          tlsa: new command.remote.Command(
            "tls-spki",
            { connection: vmConn, create: tlsaReadCommand(config.tlsCert, config.tlsNextKey) },
            { dependsOn: [scripts] },
          ).stdout.apply(parseTlsaOutput),
          ...(gandiProvider
            ? { provider: "gandi" as const, gandi: gandiProvider }
            : { provider: "bind" as const, vm: vmConn }),
        },
        { dependsOn: [scripts] },
      )
    : undefined;

  // Docker on the VM exists once the host scripts' packages (docker.io) are installed.
  const dockerProvider = new docker.Provider("vm-docker", dockerSsh(config), { dependsOn: scripts.ready });
  // SEMail's images, built on the VM from this repository unless a setting names one.
  const images = (role: ImageRole, override: string) =>
    new SemailImage(
      `image-${role}`,
      { docker: dockerProvider, role, projectDir, base: config.baseImage, override },
      { dependsOn: [scripts] },
    ).ref;
  const usersNetwork = new UsersNetwork("users-network", { docker: dockerProvider, subnet: config.usersNetworkSubnet });

  // The daemons' own network: not internal, so outbound reaches the internet's MX hosts
  // (the users' network is internal); the local slapd lives here too.
  const servicesNet = new docker.Network(
    "services-net",
    { name: "semail-services", driver: "bridge" },
    { provider: dockerProvider },
  );
  const daemonNetworks: pulumi.Input<string>[] = [servicesNet.name];
  let ldapUrl = config.ldapUrl;
  if (config.ldapUrl === "") {
    const ldap = new LdapServer(
      "ldap",
      {
        docker: dockerProvider,
        image: images("directory", config.ldapImage),
        baseDn: config.ldapBaseDn,
        adminPassword: pulumi.secret(secrets.ldapPassword!),
        dataDir: "/var/lib/semail/ldap",
        network: servicesNet.name,
      },
      { dependsOn: [scripts] },
    );
    ldapUrl = ldap.url;
  }

  const daemonImage = images("daemons", config.daemonImage);
  const settings = daemonSettings(config, ldapUrl);
  // Made once on the VM and kept: its bytes never pass through the program or its state.
  const forwardSecret = new HostCommand(
    "forward-secret",
    {
      connection: vmSsh,
      create: shellLine(
        "sh",
        "-c",
        `install -d -m 0700 "$(dirname "$1")" && { [ -s "$1" ] || { umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n" > "$1.new" && mv -f "$1.new" "$1"; }; }`,
        "make-forward-secret",
        FORWARD_SECRET_PATH,
      ),
      check: shellLine("sh", "-c", `stat -c "%a %s" "$1"`, "check-forward-secret", FORWARD_SECRET_PATH),
      delete: shellLine("rm", "-f", FORWARD_SECRET_PATH),
    },
    { dependsOn: [scripts] },
  );
  const paths = {
    usersDir: usersDir(config),
    mailRoot: config.mailRoot,
    spool: config.spool,
    tlsCert: config.tlsCert,
    tlsKey: config.tlsKey,
    forwardSecret: FORWARD_SECRET_PATH,
  };
  const publicAddresses = [config.vmIp, ...(config.vmIp6 ? [config.vmIp6] : [])];
  // The daemons' metrics: on the VM's loopback; on its public addresses too, behind the firewall,
  // only for the networks of semail:metricsScrapeFrom.
  const targets = scrapeTargets(config, publicAddresses);
  const scrape = new MetricsScrape(
    "metrics",
    { vm: vmSsh, scrapeFrom: config.metricsScrapeFrom, targets, hostName: config.hostName },
    { dependsOn: [scripts] },
  );
  const metricsPort = (mode: keyof typeof METRICS_PORTS) => ({
    port: METRICS_PORTS[mode],
    public: config.metricsScrapeFrom.length > 0,
  });
  new SmtpDaemon(
    "inbound",
    {
      mode: "inbound",
      docker: dockerProvider,
      image: daemonImage,
      settings,
      publicAddresses,
      paths,
      networks: daemonNetworks,
      metrics: metricsPort("inbound"),
    },
    { dependsOn: [usersFile, forwardSecret, ...scrape.ready] },
  );
  new SmtpDaemon(
    "outbound",
    {
      mode: "outbound",
      docker: dockerProvider,
      image: daemonImage,
      settings,
      publicAddresses,
      paths,
      networks: [...daemonNetworks, { name: usersNetwork.networkName, ipv4Address: usersNetwork.plan.outboundIp }],
      metrics: metricsPort("outbound"),
    },
    { dependsOn: [usersFile, forwardSecret, ...scrape.ready] },
  );

  const aptProxy = new AptProxy("apt-proxy", {
    docker: dockerProvider,
    image: images("apt-proxy", config.aptProxyImage),
    usersNetwork: usersNetwork.networkName,
    ipv4Address: usersNetwork.plan.aptProxyIp,
    outsideNetwork: servicesNet.name,
    cacheDir: APT_CACHE_DIR,
  });
  // What a user's container may reach: outbound's submission and the apt proxy, nothing else
  // (no other container, nothing on the VM); reinstalled at boot by its systemd unit.
  // Checked at each refresh: a rule deleted on the VM is drift, put back by `up --refresh`.
  const firewall = (...args: string[]) => shellLine(...hostScript("users-firewall.sh").split(" "), ...args);
  new HostCommand(
    "users-firewall",
    {
      connection: vmSsh,
      create: firewall(
        "install",
        "--bridge",
        USERS_BRIDGE,
        "--allow",
        `${usersNetwork.plan.outboundIp}:${OUTBOUND_PORT}`,
        "--allow",
        `${usersNetwork.plan.aptProxyIp}:${APT_PROXY_PORT}`,
        "--unit",
      ),
      check: firewall("check", "--bridge", USERS_BRIDGE),
      delete: firewall("remove", "--bridge", USERS_BRIDGE),
    },
    { dependsOn: [scripts, usersNetwork] },
  );
  const userImage = images("user", config.userImage);
  new ImapServer(
    "imap",
    {
      docker: dockerProvider,
      image: images("imap", config.imapImage),
      vm: vmConn,
      usersFile: renderUsersFile(imapUsers(here, config.mailRoot)),
      ldapUrl,
      ldapBaseDn: config.ldapBaseDn,
      mailRoot: config.mailRoot,
      tlsCert: config.tlsCert,
      tlsKey: config.tlsKey,
      usersDir: "/etc/semail/imap",
      stateDir: "/var/lib/semail/imap",
      trustedNetworks: [config.usersNetworkSubnet],
      publicAddresses,
      networks: daemonNetworks,
    },
    { dependsOn: [scripts] },
  );
  // Roundcube on the name the certificate already carries for the daemons (mx.<domain>, in
  // the zone): a webmail.<domain> would need its own record and a certificate naming it. Its
  // nginx owns 80 and 443, where the zone sends autoconfig.<domain>: it answers mail
  // programs with the VM's standard ports on that same host.
  const mailHost = mailHostName(config.managedDomain);
  const webmail =
    config.webmailPort === 0
      ? undefined
      : new WebmailServer(
          "webmail",
          {
            docker: dockerProvider,
            image: images("webmail", config.webmailImage),
            vm: vmConn,
            addressFile: renderAddressFile(here),
            autoconfigFiles: autoconfigFiles(users, config.managedDomain, {
              host: mailHost,
              ports: STANDARD_MAIL_CLIENT_PORTS,
            }),
            mtaStsFiles: mtaStsFiles(users.domains(), config.managedDomain, transport),
            imap: "semail-imap:993",
            submission: `semail-outbound:${OUTBOUND_PORT}`,
            hostName: mailHost,
            tlsCert: config.tlsCert,
            tlsKey: config.tlsKey,
            addressDir: "/etc/semail/webmail",
            stateDir: "/var/lib/semail/webmail",
            acmeDir: "/var/lib/semail/acme",
            publicAddresses,
            httpsPort: config.webmailPort,
            httpPort: config.webmailHttpPort,
            networks: daemonNetworks,
          },
          { dependsOn: [scripts] },
        );

  // The certificate from ACME, when the stack holds an account key: the acmeNames, proved by a TXT
  // record in the zone on the VM's named (dns-01) or on port 80, which the webmail's nginx answers (http-01).
  if (secrets.acmeAccountKey !== undefined) {
    const dns01 = config.acmeChallenge === "dns-01";
    new AcmeCertificate(
      "acme",
      {
        vm: vmConn,
        image: daemonImage,
        names: config.acmeNames,
        // Every served domain's MTA-STS policy host the names above leave out, each served by the
        // webmail's nginx (by SNI) once issued; an external domain's by HTTP-01 on port 80 only.
        hosts: webmail
          ? policyHostCertificates(
              users.domains(),
              config.managedDomain,
              config.acmeChallenge,
              config.acmeNames,
            ).filter((h) => h.challenge === "dns-01" || config.webmailHttpPort === 80)
          : [],
        directoryUrl: config.acmeDirectoryUrl,
        email: config.acmeEmail,
        challenge: config.acmeChallenge,
        // Debian's bind9 makes the control channel's key at install (VM_PACKAGES).
        ...(dns01 ? { zone: { dir: ZONE_DIR, rndcKey: "/etc/bind/rndc.key" } } : {}),
        accountKey: secrets.acmeAccountKey,
        configDir: ACME_CONFIG_DIR,
        tlsCert: config.tlsCert,
        tlsKey: config.tlsKey,
        stateDir: ACME_STATE_DIR,
        managedDomain: config.managedDomain,
        reload: {
          hangup: ["semail-inbound", "semail-outbound"],
          dovecot: "semail-imap",
          ...(webmail ? { nginx: "semail-webmail" } : {}),
        },
      },
      // DNS-01 edits the installed zone: it must be there first.
      { dependsOn: [...(webmail ? [webmail] : []), ...(dns01 && zone ? [zone] : [])] },
    );
  }

  // The backups, when the stack names a repository: the mail, the users list, the spool, the
  // keys and the ACME state, at the paths the daemons use, and the local directory's dump.
  if (config.backupRepository !== "") {
    new BackupSchedule(
      "backup",
      {
        vm: vmConn,
        image: daemonImage,
        repository: config.backupRepository,
        password: pulumi.secret(secrets.backupPassword!),
        configDir: "/etc/semail/backup",
        stateDir: "/var/lib/semail/backup",
        mailRoot: config.mailRoot,
        usersFile: config.usersListRemote,
        spool: config.spool,
        tlsCert: config.tlsCert,
        tlsKey: config.tlsKey,
        paths: [DKIM_KEYS_DIR, ACME_CONFIG_DIR, ACME_STATE_DIR],
        directoryContainer: config.ldapUrl === "" ? LDAP_HOST : "",
        ldapBaseDn: config.ldapBaseDn,
        onCalendar: config.backupSchedule,
        keep: { daily: config.backupKeepDaily, weekly: config.backupKeepWeekly, monthly: config.backupKeepMonthly },
      },
      { dependsOn: [scripts] },
    );
  }

  // The daily report to the postmaster (semail report --summary --mail), unless reportSchedule is empty.
  if (config.reportSchedule !== "") {
    new ReportSchedule(
      "report",
      {
        vm: vmConn,
        image: daemonImage,
        settings,
        configDir: "/etc/semail/report",
        mailRoot: config.mailRoot,
        usersDir: usersDir(config),
        spool: config.spool,
        tlsCert: config.tlsCert,
        tlsKey: config.tlsKey,
        onCalendar: config.reportSchedule,
      },
      { dependsOn: [scripts] },
    );
  }

  // The automatic bans: the daemons', Dovecot's and the jump account's sshd's failed logins.
  // Never banned: the users' containers and the services' network (the webmail logs users in
  // to Dovecot and outbound from there: a user's typo must not cut the webmail off), and the
  // admins' networks of banAllow.
  if (config.banEnabled) {
    new BanWatcher(
      "bans",
      {
        vm: vmConn,
        image: daemonImage,
        configDir: "/etc/semail/bans",
        stateDir: "/var/lib/semail/bans",
        logs: [
          { parser: "smtp", container: "semail-inbound" },
          { parser: "smtp", container: "semail-outbound" },
          { parser: "dovecot", container: "semail-imap" },
          { parser: "sshd", unit: "ssh" },
        ],
        allow: servicesNet.ipamConfigs.apply((ipam) => [
          config.usersNetworkSubnet,
          ...(ipam ?? []).flatMap((c) => (c.subnet ? [c.subnet] : [])),
          ...config.banAllow,
        ]),
      },
      { dependsOn: [scripts] },
    );
  }

  const storage: MailboxStorage =
    config.storageBackend === "lvm"
      ? { backend: "lvm", vgName: config.vgName, mailRoot: config.mailRoot }
      : { backend: "image", imageDir: config.imageDir, mailRoot: config.mailRoot };
  // At Gandi one Mailbox per subdomain makes its MX: the alphabetically first owner, on the host
  // the subdomain's MX names (a subdomain split across hosts stays on the main host's).
  const mxOwner = new Map<string, string>();
  for (const m of [...here.mailboxes].sort((a, b) => a.owner.localeCompare(b.owner))) {
    const mxHere = (mailboxMx.mx[m.domain] ?? mainMx(config.managedDomain)) === ownMx;
    if (m.kind === "subdomain" && mxHere && !mxOwner.has(m.domain)) mxOwner.set(m.domain, m.owner);
  }
  const externalMxRecords: Record<string, string> = {};
  const userSshAddresses: Record<string, pulumi.Output<string>> = {};
  const userSshCommands: Record<string, pulumi.Output<string>> = {};
  // Only this host's mailboxes: one that left for another host is removed here as a deleted one
  // is, its filesystem kept (Mailbox's storage is retainOnDelete); one moving away stays until then.
  for (const entry of here.mailboxes) {
    const mailbox = new Mailbox(`mailbox-${entry.owner}`, {
      entry,
      managedDomain: config.managedDomain,
      mx: ownMx,
      storage,
      vm: vmConn,
      storageDependsOn: [...scripts.ready, ...(vg ? [vg] : [])],
      docker: dockerProvider,
      network: usersNetwork.networkName,
      userImage,
      submission: `semail-outbound:${OUTBOUND_PORT}`,
      aptProxy: aptProxy.url,
      hostKeysDir: HOST_KEYS_DIR,
      gandi: mxOwner.get(entry.domain) === entry.owner ? gandiProvider : undefined,
      transport,
      jumpHost: config.vmIp,
      jumpDependsOn: [scripts.jump],
    });
    if (entry.kind === "external" && mailbox.mxRecord) externalMxRecords[entry.address] = mailbox.mxRecord;
    userSshAddresses[entry.owner] = mailbox.sshAddress;
    userSshCommands[entry.owner] = mailbox.sshCommand;
  }

  return {
    vmAddress: vm ? vm.address : pulumi.output(config.vmIp),
    ldapUrl,
    zone: zone ? zone.zoneText : pulumi.output(""),
    externalMxRecords,
    userSshAddresses,
    userSshCommands,
    webmailUrl: webmail?.url,
    scrapeTargets: targets.map((t) => t.target),
  };
}
