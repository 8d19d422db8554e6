// The stack's settings (`pulumi config`), read and validated without Pulumi so the
// rules are tested as plain functions. Defaults here match the `config:` block of
// Pulumi.yaml (a test compares them); the Pulumi CLI applies those, the mocks do not.
import { isIP } from "node:net";
import { parseSize } from "../size.ts";
import { domainProblem } from "../users-list.ts";
import type { DkimKey } from "./zone-file.ts";
import { ACME_SETTINGS, parseAcmeStackSettings, type AcmeStackSettings } from "./acme-stack-settings.ts";
import { BACKUP_SETTINGS, parseBackupStackSettings, type BackupStackSettings } from "./backup-stack-settings.ts";
import { BAN_SETTINGS, parseBanStackSettings, type BanStackSettings } from "./ban-stack-settings.ts";
import { HOSTS_SETTINGS, parseHostsStackSettings, type HostsStackSettings } from "./hosts-stack-settings.ts";
import { METRICS_SETTINGS, parseMetricsStackSettings, type MetricsStackSettings } from "./metrics-stack-settings.ts";
import { REPORT_SETTINGS, parseReportStackSettings, type ReportStackSettings } from "./report-stack-settings.ts";
import { otherMxNames } from "./mx-hosts.ts";
import { MTA_STS_MAX_AGE_LIMIT, MTA_STS_MODES, type MtaStsMode, type TransportSecurity } from "./transport-security.ts";

/** The non-secret settings, validated. Secrets are read separately as Pulumi secrets. */
export interface StackConfig
  extends AcmeStackSettings,
    BackupStackSettings,
    BanStackSettings,
    HostsStackSettings,
    MetricsStackSettings,
    ReportStackSettings {
  /** xen: create the VM on dom0 with xen-tools; existing: deploy onto a Debian host already reachable over SSH at vmIp. */
  readonly vmProvider: "xen" | "existing";
  readonly dom0Host: string;
  readonly dom0User: string;
  /** dom0's SSH host key ("ssh-ed25519 AAAA..."), checked on every connection. */
  readonly dom0HostKey: string;
  readonly vmName: string;
  readonly vmIp: string;
  readonly vmIp6: string | undefined;
  readonly vmGateway: string;
  readonly vmNetmask: string;
  readonly vmBridge: string;
  readonly vmVcpus: number;
  readonly vmMemory: string;
  readonly vmDiskSize: string;
  readonly vmDistribution: string;
  /** Block device on dom0 handed to the VM as xvdb, for the volume group. */
  readonly vmDataDisk: string;
  readonly vmUser: string;
  readonly vmHostKey: string | undefined;
  /** Reach the VM's SSH through dom0 (when the VM's address is not routable from here). */
  readonly vmSshViaDom0: boolean;
  readonly storageBackend: "lvm" | "image";
  readonly vgName: string;
  readonly imageDir: string;
  readonly defaultMailboxSize: number;
  readonly minMailboxSize: number;
  readonly managedDomain: string;
  readonly dnsProvider: "bind" | "gandi";
  readonly dkimKeys: readonly DkimKey[];
  /** External directory URL; empty means a slapd container on the VM. */
  readonly ldapUrl: string;
  readonly ldapBaseDn: string;
  readonly ldapAdminDn: string;
  /** Image reference, or "" to build assets/images/directory on the VM. */
  readonly ldapImage: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** The next TLS key on the VM (a rollover): its TLSA record is published beside the current one; "" for none. */
  readonly tlsNextKey: string;
  /** MTA-STS mode of every served domain's policy. */
  readonly mtaStsMode: MtaStsMode;
  /** MTA-STS policy's max_age, in seconds. */
  readonly mtaStsMaxAge: number;
  /** TLS-RPT's rua; "" for mailto:postmaster@<managedDomain>. */
  readonly tlsRptRua: string;
  /** Users list on this machine, relative to the project. */
  readonly usersList: string;
  /** Where the users list lives on the VM. */
  readonly usersListRemote: string;
  readonly mailRoot: string;
  readonly spool: string;
  /** Image reference, or "" to build assets/images/user on the VM. */
  readonly userImage: string;
  readonly usersNetworkSubnet: string;
  /** The base every built image starts FROM. */
  readonly baseImage: string;
  /** Image reference, or "" to build assets/images/daemons on the VM. */
  readonly daemonImage: string;
  /** Image reference, or "" to build assets/images/apt-proxy on the VM. */
  readonly aptProxyImage: string;
  /** Image reference, or "" to build assets/images/imap on the VM. */
  readonly imapImage: string;
  /** Image reference, or "" to build assets/images/webmail on the VM. */
  readonly webmailImage: string;
  /** Public HTTPS port of the webmail; 0 runs no webmail. */
  readonly webmailPort: number;
  /** Public HTTP port: autoconfig and ACME challenges, a redirect to the webmail's HTTPS for the rest; 0 publishes none. */
  readonly webmailHttpPort: number;
}

/** Setting name → [default, description]. Secrets are listed in SECRET_SETTINGS. */
export const SETTINGS = {
  vmProvider: [
    "xen",
    "xen (create the VM on dom0 with xen-tools) or existing (deploy onto a Debian host already reachable over SSH at vmIp, as vmUser).",
  ],
  dom0Host: ["", "Address of the Xen dom0 (SSH); required when vmProvider is xen."],
  dom0User: ["root", "SSH user on dom0."],
  dom0HostKey: [
    "",
    "dom0's SSH host key line, e.g. from `ssh-keyscan -t ed25519 DOM0`; required when vmProvider is xen.",
  ],
  vmName: ["semail", "Name of the Xen guest."],
  vmIp: [undefined, "Public IPv4 address of the VM or existing host (SSH, and mx, ns and autoconfig in the zone)."],
  vmIp6: ["", "Public IPv6 address of the VM; empty for none."],
  vmGateway: ["", "IPv4 gateway of the VM; required when vmProvider is xen."],
  vmNetmask: ["255.255.255.0", "IPv4 netmask of the VM."],
  vmBridge: ["xenbr0", "dom0 bridge the VM's interface joins."],
  vmVcpus: ["2", "Virtual CPUs of the VM."],
  vmMemory: ["2G", "Memory of the VM (xen-create-image --memory)."],
  vmDiskSize: ["10G", "Root disk size of the VM (xen-create-image --size)."],
  vmDistribution: ["bookworm", "Debian release installed in the VM (xen-create-image --dist)."],
  vmDataDisk: [
    "",
    "Block device for the volume group (storageBackend lvm): on dom0, given to the VM as xvdb (vmProvider xen), or on the existing host itself, e.g. /dev/sdb.",
  ],
  vmUser: ["root", "SSH user on the VM."],
  vmHostKey: [
    "",
    "The VM's SSH host key line; empty accepts the key the new VM presents (required when vmProvider is existing).",
  ],
  vmSshViaDom0: ["true", "Reach the VM's SSH through dom0 as a jump host (vmProvider xen only)."],
  storageBackend: ["lvm", "Mailbox storage: lvm (a logical volume each) or image (an image file each)."],
  vgName: ["semail", "Volume group on the VM's data disk."],
  imageDir: ["/var/lib/semail/images", "Directory of mailbox image files (storageBackend image)."],
  defaultMailboxSize: ["5GiB", "Size of a mailbox whose entry gives none."],
  minMailboxSize: ["64MiB", "Smallest mailbox size accepted in the users list."],
  managedDomain: [undefined, "The managed domain; user subdomains live under it."],
  dnsProvider: ["bind", "bind (named on the VM) or gandi (Gandi LiveDNS, needs gandiApiKey)."],
  dkimKeys: ["[]", 'DKIM public keys as a JSON list of "selector=BASE64".'],
  ldapUrl: ["", "URL of an external LDAP directory; empty runs slapd in a container on the VM."],
  ldapBaseDn: [undefined, "Base DN of the directory, e.g. dc=semail,dc=email."],
  ldapAdminDn: ["", "Admin DN; empty means cn=admin,<ldapBaseDn>."],
  ldapImage: ["", "Image of the local directory (slapd); empty builds assets/images/directory on the VM."],
  tlsCert: ["/etc/semail/tls/fullchain.pem", "TLS certificate chain on the VM."],
  tlsKey: ["/etc/semail/tls/privkey.pem", "TLS private key on the VM."],
  tlsNextKey: [
    "",
    "The next TLS private (or public) key on the VM, for a DANE rollover: its TLSA record is published beside the current key's until the certificate uses it; empty for none.",
  ],
  mtaStsMode: [
    "enforce",
    "MTA-STS policy mode served for every mail domain: enforce, testing (senders only report) or none (withdraws it).",
  ],
  mtaStsMaxAge: ["604800", "How long senders may cache the MTA-STS policy, in seconds (at most 31557600)."],
  tlsRptRua: [
    "",
    "Where senders send TLS-RPT reports (mailto: or https: URIs, comma-separated); empty for mailto:postmaster@<managedDomain>.",
  ],
  usersList: ["users.yaml", "The users list on this machine, relative to the project."],
  usersListRemote: ["/etc/semail/users.yaml", "Where the users list is installed on the VM."],
  mailRoot: ["/var/mail/semail", "Mail root on the VM: one mounted filesystem per owner."],
  spool: ["/var/spool/semail", "Outbound spool on the VM."],
  userImage: [
    "",
    "Image of the users' containers (sshd, mail readers, msmtp); empty builds assets/images/user on the VM.",
  ],
  usersNetworkSubnet: ["172.30.0.0/24", "Subnet of the users' Docker network."],
  baseImage: [
    "debian:bookworm-slim",
    "The Debian base every SEMail image is built FROM (assets/images/base.sh makes it where no registry is reachable).",
  ],
  daemonImage: ["", "Image of the two SMTP daemons; empty builds assets/images/daemons on the VM."],
  aptProxyImage: ["", "Image of the users' apt proxy (apt-cacher-ng); empty builds assets/images/apt-proxy on the VM."],
  imapImage: [
    "",
    "Image of Dovecot (IMAP, IMAPS, POP3S over the users' mail); empty builds assets/images/imap on the VM.",
  ],
  webmailImage: [
    "",
    "Image of the webmail (Roundcube on nginx and php-fpm); empty builds assets/images/webmail on the VM.",
  ],
  webmailPort: [
    "443",
    "Public HTTPS port of the webmail, https://mx.<managedDomain>/ with the tlsCert certificate; 0 runs no webmail.",
  ],
  webmailHttpPort: [
    "80",
    "Public HTTP port that answers mail programs' autoconfig, serves certbot --webroot challenges from /var/lib/semail/acme and redirects the rest to the webmail's HTTPS; 0 publishes none.",
  ],
  ...ACME_SETTINGS,
  ...BACKUP_SETTINGS,
  ...BAN_SETTINGS,
  ...HOSTS_SETTINGS,
  ...METRICS_SETTINGS,
  ...REPORT_SETTINGS,
} as const satisfies Record<keyof StackConfig, readonly [string | undefined, string]>;

export const SECRET_SETTINGS = {
  sshPrivateKey: "Private SSH key for dom0 and the VM (secret).",
  ldapPassword: "Password of the LDAP admin DN (secret).",
  gandiApiKey: "Gandi API key (secret); required when dnsProvider is gandi.",
  acmeAccountKey:
    "ACME account key, PEM (secret); when set, the VM gets its certificate for acmeNames from the acmeDirectoryUrl CA (Let's Encrypt) by acmeChallenge and renews it (semail cert, twice a day).",
  backupPassword: "Password of the restic repository (secret); required when backupRepository is set.",
} as const;

export class StackConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid stack configuration:\n  ${problems.join("\n  ")}`);
    this.name = "StackConfigError";
    this.problems = problems;
  }
}

const set = (key: string, example: string) => `(pulumi config set ${key} ${example})`;
const IPV4_MASK =
  /^(255|254|252|248|240|224|192|128|0)\.(255|254|252|248|240|224|192|128|0)\.(255|254|252|248|240|224|192|128|0)\.(255|254|252|248|240|224|192|128|0)$/;
const SAFE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ABS_PATH = /^\/[A-Za-z0-9._/-]*$/;
const DEVICE = /^\/dev\/[A-Za-z0-9._/-]+$/;
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+$/;
const SIZE_ARG = /^\d+[KMGT]?$/;
/** What the VM already publishes on its public addresses (SSH, the zone's named, the daemons, Dovecot). */
const PUBLIC_PORTS: Readonly<Record<number, string>> = {
  22: "SSH",
  25: "SMTP",
  53: "DNS",
  143: "IMAP",
  465: "submissions",
  587: "submission",
  993: "IMAPS",
  995: "POP3S",
};

/**
 * Validates raw config values (by setting name, without the `semail:` prefix) and
 * applies defaults. Every problem names the setting and how to fix it.
 */
export function parseStackConfig(get: (key: string) => string | undefined): StackConfig {
  const problems: string[] = [];
  const value = (key: keyof typeof SETTINGS): string => {
    const raw = get(key);
    if (raw !== undefined) return raw.trim();
    const fallback = SETTINGS[key][0];
    if (fallback === undefined) {
      problems.push(`semail:${key} is required: ${SETTINGS[key][1]} ${set(key, "VALUE")}`);
      return "";
    }
    return fallback;
  };
  const check = (key: string, ok: boolean, why: string, example: string) => {
    // A missing required setting is reported once, by `value`.
    if (!ok && !problems.some((p) => p.startsWith(`semail:${key} `)))
      problems.push(`semail:${key} ${why} ${set(key, example)}`);
  };
  const oneOf = <T extends string>(key: keyof typeof SETTINGS, allowed: readonly T[]): T => {
    const v = value(key);
    check(
      key,
      (allowed as readonly string[]).includes(v),
      `${JSON.stringify(v)} is not valid: use ${allowed.map((a) => JSON.stringify(a)).join(" or ")}`,
      allowed[0]!,
    );
    return v as T;
  };
  const path = (key: keyof typeof SETTINGS) => {
    const v = value(key);
    check(
      key,
      ABS_PATH.test(v) && !v.split("/").includes(".."),
      `${JSON.stringify(v)} must be an absolute path without spaces or ".."`,
      String(SETTINGS[key][0] ?? "/path"),
    );
    return v;
  };
  const hostKey = (key: keyof typeof SETTINGS, optional: boolean) => {
    // ssh-keyscan prints "HOST TYPE KEY"; accept that and keep "TYPE KEY".
    const words = value(key).split(/\s+/).filter(Boolean);
    const line = (words.length === 3 ? words.slice(1) : words).join(" ");
    check(
      key,
      (optional && line === "") || HOST_KEY.test(line),
      'must be an SSH host key line "ssh-ed25519 AAAA..."',
      "\"$(ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-)\"",
    );
    return line;
  };
  // A public port of the VM for the webmail: free of what the mail services, DNS and SSH publish there.
  const port = (key: "webmailPort" | "webmailHttpPort") => {
    const v = value(key);
    const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
    const owner = PUBLIC_PORTS[n];
    check(
      key,
      n >= 0 && n <= 65535 && owner === undefined,
      owner
        ? `${n} is already the VM's ${owner} port`
        : `${JSON.stringify(v)} must be a port number from 1 to 65535, or 0 for none`,
      String(SETTINGS[key][0]),
    );
    return Number.isNaN(n) ? 0 : n;
  };
  const ipv4 = (key: keyof typeof SETTINGS) => {
    const v = value(key);
    check(key, isIP(v) === 4, `${JSON.stringify(v)} is not an IPv4 address`, "192.0.2.25");
    return v;
  };

  const vmProvider = oneOf("vmProvider", ["xen", "existing"] as const);
  const xen = vmProvider === "xen";
  // Settings only the Xen VM needs: required there, ignored for an existing host.
  const forXen = (key: "dom0Host" | "dom0HostKey" | "vmGateway", example: string) => {
    const v = value(key);
    if (xen && v === "")
      problems.push(
        `semail:${key} is required when semail:vmProvider is xen: ${SETTINGS[key][1]} ${set(key, example)}`,
      );
    return v;
  };
  const dom0Host = forXen("dom0Host", "dom0.example.net");
  check(
    "dom0Host",
    /^[A-Za-z0-9.:-]+$/.test(dom0Host) || dom0Host === "",
    `${JSON.stringify(dom0Host)} is not a host name or address`,
    "dom0.example.net",
  );
  const dom0User = value("dom0User");
  check("dom0User", /^[a-z_][a-z0-9_-]*$/.test(dom0User), `${JSON.stringify(dom0User)} is not a user name`, "root");
  const vmName = value("vmName");
  check("vmName", SAFE_NAME.test(vmName), `${JSON.stringify(vmName)} must be a-z, 0-9, '-'`, "semail");
  const vmIp6 = value("vmIp6");
  check("vmIp6", vmIp6 === "" || isIP(vmIp6) === 6, `${JSON.stringify(vmIp6)} is not an IPv6 address`, "2001:db8::25");
  const vmNetmask = value("vmNetmask");
  check("vmNetmask", IPV4_MASK.test(vmNetmask), `${JSON.stringify(vmNetmask)} is not an IPv4 netmask`, "255.255.255.0");
  const vmBridge = value("vmBridge");
  check(
    "vmBridge",
    /^[A-Za-z0-9._-]{1,15}$/.test(vmBridge),
    `${JSON.stringify(vmBridge)} is not an interface name`,
    "xenbr0",
  );
  const vcpus = value("vmVcpus");
  check("vmVcpus", /^[1-9]\d{0,2}$/.test(vcpus), `${JSON.stringify(vcpus)} must be a whole number of CPUs`, "2");
  const vmMemory = value("vmMemory");
  check("vmMemory", SIZE_ARG.test(vmMemory), `${JSON.stringify(vmMemory)} must be a size such as 2G or 2048M`, "2G");
  const vmDiskSize = value("vmDiskSize");
  check("vmDiskSize", SIZE_ARG.test(vmDiskSize), `${JSON.stringify(vmDiskSize)} must be a size such as 10G`, "10G");
  const vmDistribution = value("vmDistribution");
  check(
    "vmDistribution",
    /^[a-z]+$/.test(vmDistribution),
    `${JSON.stringify(vmDistribution)} must be a release code name`,
    "bookworm",
  );
  const storageBackend = oneOf("storageBackend", ["lvm", "image"] as const);
  const vmDataDisk = value("vmDataDisk");
  // The Xen VM always gets the disk (as xvdb); an existing host needs one only for LVM.
  const diskNeeded = xen || storageBackend === "lvm";
  if (diskNeeded && vmDataDisk === "")
    problems.push(
      `semail:vmDataDisk is required ${xen ? "when semail:vmProvider is xen" : "for semail:storageBackend lvm"}: ${SETTINGS.vmDataDisk[1]} ${set("vmDataDisk", "/dev/sdb")}`,
    );
  check(
    "vmDataDisk",
    vmDataDisk === "" || DEVICE.test(vmDataDisk),
    `${JSON.stringify(vmDataDisk)} must be a block device path under /dev`,
    "/dev/sdb",
  );
  const vmUser = value("vmUser");
  check("vmUser", /^[a-z_][a-z0-9_-]*$/.test(vmUser), `${JSON.stringify(vmUser)} is not a user name`, "root");
  const viaDom0 = value("vmSshViaDom0");
  check(
    "vmSshViaDom0",
    viaDom0 === "true" || viaDom0 === "false",
    `${JSON.stringify(viaDom0)} must be true or false`,
    "true",
  );
  const vgName = value("vgName");
  check(
    "vgName",
    /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,62}$/.test(vgName),
    `${JSON.stringify(vgName)} is not a volume group name`,
    "semail",
  );

  const sizes: Record<string, number> = {};
  for (const key of ["defaultMailboxSize", "minMailboxSize"] as const) {
    const parsed = parseSize(value(key));
    check(key, parsed !== undefined && parsed > 0, `${JSON.stringify(value(key))} is not a size`, "5GiB");
    sizes[key] = parsed ?? 0;
  }
  check(
    "defaultMailboxSize",
    sizes.defaultMailboxSize! >= sizes.minMailboxSize!,
    "is below semail:minMailboxSize",
    "5GiB",
  );

  const managedDomain = value("managedDomain").toLowerCase().replace(/\.$/, "");
  if (managedDomain !== "") {
    const p = domainProblem(managedDomain);
    check("managedDomain", p === undefined, p ?? "", "semail.email");
  }

  let dkimKeys: DkimKey[] = [];
  try {
    const list: unknown = JSON.parse(value("dkimKeys"));
    if (!Array.isArray(list)) throw new Error("not a list");
    dkimKeys = list.map((entry: unknown) => {
      const m = typeof entry === "string" ? /^([a-z0-9][a-z0-9-]{0,62})=([A-Za-z0-9+/]+=*)$/.exec(entry) : null;
      if (!m) throw new Error(`${JSON.stringify(entry)} is not "selector=BASE64"`);
      return { selector: m[1]!, publicKey: m[2]! };
    });
  } catch (err) {
    problems.push(
      `semail:dkimKeys: ${(err as Error).message}: write a JSON list of "selector=BASE64" ${set("dkimKeys", "'[\"mail=MIIBIjAN...\"]'")}`,
    );
  }

  const ldapUrl = value("ldapUrl");
  check(
    "ldapUrl",
    ldapUrl === "" || /^ldaps?:\/\/[^\s/]+\/?$/.test(ldapUrl),
    `${JSON.stringify(ldapUrl)} must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], or empty for a local slapd`,
    "ldaps://ldap.example.net",
  );
  const ldapBaseDn = value("ldapBaseDn");
  check(
    "ldapBaseDn",
    ldapBaseDn === "" || /^[a-zA-Z]+=[^,]+(,[a-zA-Z]+=[^,]+)*$/.test(ldapBaseDn),
    `${JSON.stringify(ldapBaseDn)} is not a DN`,
    "dc=semail,dc=email",
  );
  const ldapAdminDn = value("ldapAdminDn") || `cn=admin,${ldapBaseDn}`;
  // The local slapd image creates its admin as cn=admin,<base>; any other DN could not bind.
  check(
    "ldapAdminDn",
    ldapUrl !== "" || ldapAdminDn === `cn=admin,${ldapBaseDn}`,
    `must be cn=admin,${ldapBaseDn} for the local slapd (or set semail:ldapUrl for an external directory)`,
    `cn=admin,${ldapBaseDn}`,
  );
  const images = Object.fromEntries(
    (["ldapImage", "userImage", "daemonImage", "aptProxyImage", "imapImage", "webmailImage", "baseImage"] as const).map(
      (key) => {
        const img = value(key);
        const optional = key !== "baseImage";
        check(
          key,
          (optional && img === "") || /^[a-z0-9][a-z0-9._/:@-]*$/.test(img),
          `${JSON.stringify(img)} is not an image reference${optional ? " (leave it empty to build SEMail's own)" : ""}`,
          "registry.example/name:tag",
        );
        return [key, img];
      },
    ),
  ) as Record<
    "ldapImage" | "userImage" | "daemonImage" | "aptProxyImage" | "imapImage" | "webmailImage" | "baseImage",
    string
  >;
  const usersList = value("usersList");
  check(
    "usersList",
    usersList !== "" && !usersList.startsWith("/") && !usersList.split(/[\\/]/).includes(".."),
    `${JSON.stringify(usersList)} must be a path inside the project`,
    "users.yaml",
  );
  const subnet = value("usersNetworkSubnet");
  const [net, bits] = subnet.split("/");
  check(
    "usersNetworkSubnet",
    isIP(net ?? "") === 4 && /^(1[6-9]|2[0-8])$/.test(bits ?? ""),
    `${JSON.stringify(subnet)} must be an IPv4 CIDR from /16 to /28`,
    "172.30.0.0/24",
  );

  const tlsNextKey = value("tlsNextKey");
  check(
    "tlsNextKey",
    tlsNextKey === "" || (ABS_PATH.test(tlsNextKey) && !tlsNextKey.split("/").includes("..")),
    `${JSON.stringify(tlsNextKey)} must be an absolute path without spaces or "..", or empty for none`,
    "/etc/semail/tls/next-privkey.pem",
  );
  const mtaStsMaxAge = value("mtaStsMaxAge");
  check(
    "mtaStsMaxAge",
    /^\d{1,8}$/.test(mtaStsMaxAge) && Number(mtaStsMaxAge) >= 1 && Number(mtaStsMaxAge) <= MTA_STS_MAX_AGE_LIMIT,
    `${JSON.stringify(mtaStsMaxAge)} must be a number of seconds from 1 to ${MTA_STS_MAX_AGE_LIMIT}`,
    "604800",
  );
  const tlsRptRua = value("tlsRptRua");
  check(
    "tlsRptRua",
    tlsRptRua === "" ||
      tlsRptRua.split(",").every((uri) => /^(mailto:[^\s,;@]+@[^\s,;@]+|https:\/\/[^\s,;]+)$/.test(uri.trim())),
    `${JSON.stringify(tlsRptRua)} must be mailto: or https: URIs, comma-separated, or empty for the postmaster`,
    "mailto:tls-reports@example.net",
  );

  const dnsProvider = oneOf("dnsProvider", ["bind", "gandi"] as const);
  const acme = parseAcmeStackSettings(
    {
      acmeNames: value("acmeNames"),
      acmeChallenge: value("acmeChallenge"),
      acmeDirectoryUrl: value("acmeDirectoryUrl"),
      acmeEmail: value("acmeEmail"),
    },
    { managedDomain, dnsProvider },
  );
  problems.push(...acme.problems);
  const backup = parseBackupStackSettings({
    backupRepository: value("backupRepository"),
    backupSchedule: value("backupSchedule"),
    backupKeepDaily: value("backupKeepDaily"),
    backupKeepWeekly: value("backupKeepWeekly"),
    backupKeepMonthly: value("backupKeepMonthly"),
  });
  problems.push(...backup.problems);
  const bans = parseBanStackSettings({ banEnabled: value("banEnabled"), banAllow: value("banAllow") });
  problems.push(...bans.problems);
  const hosts = parseHostsStackSettings({ hostName: value("hostName"), hosts: value("hosts") }, managedDomain);
  problems.push(...hosts.problems);
  const metrics = parseMetricsStackSettings({ metricsScrapeFrom: value("metricsScrapeFrom") });
  problems.push(...metrics.problems);
  const report = parseReportStackSettings({ reportSchedule: value("reportSchedule") });
  problems.push(...report.problems);

  const webmailPort = port("webmailPort");
  const webmailHttpPort = port("webmailHttpPort");
  check(
    "webmailHttpPort",
    webmailHttpPort === 0 || webmailHttpPort !== webmailPort,
    `${webmailHttpPort} is semail:webmailPort too: HTTP needs a port of its own, or 0 for none`,
    "80",
  );

  forXen("dom0HostKey", "\"$(ssh-keyscan -t ed25519 DOM0 | cut -d' ' -f2-)\"");
  const vmGateway = forXen("vmGateway", "192.0.2.1");
  check(
    "vmGateway",
    vmGateway === "" || isIP(vmGateway) === 4,
    `${JSON.stringify(vmGateway)} is not an IPv4 address`,
    "192.0.2.1",
  );
  const config: StackConfig = {
    vmProvider,
    dom0Host,
    dom0User,
    dom0HostKey: hostKey("dom0HostKey", !xen),
    vmName,
    vmIp: ipv4("vmIp"),
    vmIp6: vmIp6 || undefined,
    vmGateway,
    vmNetmask,
    vmBridge,
    vmVcpus: Number(vcpus),
    vmMemory,
    vmDiskSize,
    vmDistribution,
    vmDataDisk,
    vmUser,
    // An existing host's key must be known: nothing else vouches for it, as a new VM's first answer does.
    vmHostKey: hostKey("vmHostKey", xen) || undefined,
    vmSshViaDom0: xen && viaDom0 === "true",
    storageBackend,
    vgName,
    imageDir: path("imageDir"),
    defaultMailboxSize: sizes.defaultMailboxSize!,
    minMailboxSize: sizes.minMailboxSize!,
    managedDomain,
    dnsProvider,
    dkimKeys,
    ldapUrl,
    ldapBaseDn,
    ldapAdminDn,
    ldapImage: images.ldapImage,
    tlsCert: path("tlsCert"),
    tlsKey: path("tlsKey"),
    tlsNextKey,
    mtaStsMode: oneOf("mtaStsMode", MTA_STS_MODES),
    mtaStsMaxAge: Number(mtaStsMaxAge),
    tlsRptRua,
    usersList,
    usersListRemote: path("usersListRemote"),
    mailRoot: path("mailRoot"),
    spool: path("spool"),
    userImage: images.userImage,
    usersNetworkSubnet: subnet,
    baseImage: images.baseImage,
    daemonImage: images.daemonImage,
    aptProxyImage: images.aptProxyImage,
    imapImage: images.imapImage,
    webmailImage: images.webmailImage,
    webmailPort,
    webmailHttpPort,
    ...acme.settings,
    ...backup.settings,
    ...bans.settings,
    ...hosts.settings,
    ...metrics.settings,
    ...report.settings,
  };
  if (problems.length > 0) throw new StackConfigError(problems);
  return config;
}

/**
 * The MTA-STS and TLS-RPT settings a stack publishes (its zone, the webmail's policies, the
 * records the web form shows an external domain's owner); the TLSA records come from the VM.
 */
export function stackTransportSecurity(
  config: Pick<StackConfig, "mtaStsMode" | "mtaStsMaxAge" | "tlsRptRua" | "managedDomain"> &
    Partial<Pick<StackConfig, "hosts">>,
): TransportSecurity {
  const otherMx = otherMxNames(config.hosts ?? {}, config.managedDomain);
  return {
    mtaStsMode: config.mtaStsMode,
    mtaStsMaxAge: config.mtaStsMaxAge,
    tlsRptRua: config.tlsRptRua,
    ...(otherMx.length > 0 ? { otherMx } : {}),
  };
}
