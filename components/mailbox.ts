// One user's mailbox: the mail filesystem on the VM, the user's container, and (for a
// subdomain at a hosted DNS provider) the MX record. Made for each users list entry.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as gandi from "@pulumiverse/gandi";
import type { MailboxEntry } from "../config/users-list.ts";
import { hostScript } from "../config/stack/host-script-paths.ts";
import { jumpKeysFile, jumpRemoveCommand, jumpWriteCommand, userSshCommand } from "../config/stack/jump-host.ts";
import {
  USER_HOST_KEYS_PATH,
  USER_KEYS_DIR,
  USER_KEYS_HOST_DIR,
  USER_MAIL_PATH,
  userEnvironment,
  userKeysFile,
  userKeysWriteCommand,
} from "../config/stack/user-container.ts";
import { shellLine } from "../lib/shell.ts";
import {
  mailClientRecords,
  mailboxSubdomains,
  mxRecordFor,
  subdomainRecords,
  transportRecords,
} from "../config/stack/zone-file.ts";
import type { TransportSecurity } from "../config/stack/transport-security.ts";
import { mailboxFsArguments, type MailboxStorage } from "../config/stack/mailbox-storage.ts";

export type { MailboxStorage };

export interface MailboxArgs {
  /** The users list entry. */
  readonly entry: MailboxEntry;
  /** The managed domain (for MX targets). */
  readonly managedDomain: string;
  /** The MX name of the SEMail host it lives on (config/stack/mx-hosts.ts); default mx.<managedDomain>, the main host's. */
  readonly mx?: string | undefined;
  /** Where and how the filesystem is made. */
  readonly storage: MailboxStorage;
  /** SSH connection to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** Resources the storage command waits for (host scripts, volume group). */
  readonly storageDependsOn: readonly pulumi.Resource[];
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  /** The users' Docker network. */
  readonly network: pulumi.Input<string>;
  /** Image of the user's container (sshd, mail readers, msmtp). */
  readonly userImage: pulumi.Input<string>;
  /** The outbound daemon's submission address on the users' network (HOST:PORT). */
  readonly submission: string;
  /** The apt proxy the container installs software through (http://HOST:PORT). */
  readonly aptProxy: string;
  /** Where containers' SSH host keys are kept on the VM, one directory per owner. */
  readonly hostKeysDir: string;
  /** Where the owners' SSH keys are kept on the VM, one directory per owner (default USER_KEYS_HOST_DIR). */
  readonly userKeysDir?: string | undefined;
  /** Gandi provider when the zone is at Gandi LiveDNS; with named the zone holds the MX. */
  readonly gandi?: gandi.Provider | undefined;
  /** MTA-STS and TLS-RPT settings for the subdomain's records at Gandi; default MTA-STS enforce. */
  readonly transport?: TransportSecurity | undefined;
  /** The VM's address users give to `ssh -J` (the jump host). */
  readonly jumpHost: string;
  /** Resources the jump key file waits for (the jump account setup). */
  readonly jumpDependsOn: readonly pulumi.Resource[];
}

/** The host script call for `action` on this entry's filesystem (config/stack/mailbox-storage.ts says its arguments). */
export function storageCommand(
  action: "create" | "grow" | "destroy",
  entry: Pick<MailboxEntry, "owner" | "size" | "address">,
  storage: MailboxStorage,
): string {
  return shellLine(...hostScript("mailbox-fs.sh").split(" "), ...mailboxFsArguments(action, entry, storage));
}

/** The MX record a mailbox's domain needs (naming `mx`, its host's MX name), or undefined for the managed domain itself. */
export function mxRecordOf(
  entry: Pick<MailboxEntry, "domain" | "kind">,
  managedDomain: string,
  mx?: string,
): string | undefined {
  return entry.kind === "managed" ? undefined : mxRecordFor(entry.domain, managedDomain, undefined, mx);
}

export class Mailbox extends pulumi.ComponentResource {
  /** The MX record for the mailbox's domain (the user adds it for an external domain). */
  readonly mxRecord: string | undefined;
  /** The user's container address on the users' network (SSH through the VM). */
  readonly sshAddress: pulumi.Output<string>;
  /** The exact command the user runs: `ssh -J semail-jump@VM owner@address`. */
  readonly sshCommand: pulumi.Output<string>;
  readonly storage: remote.Command;
  readonly container: docker.Container;
  /** The owner's keys file on the VM, which the container mounts read-only. */
  readonly keys: remote.Command;
  /** The owner's key file for the jump account. */
  readonly jumpKeys: remote.Command;

  constructor(name: string, args: MailboxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:Mailbox", name, {}, opts);
    const { entry, storage } = args;
    // create makes, formats (only a blank device), mounts and populates; update grows.
    // No delete and retainOnDelete: removing the entry keeps the mail; the operator
    // destroys it explicitly (docs/operator-guide.md).
    this.storage = new remote.Command(
      `${name}-storage`,
      {
        connection: args.vm,
        create: storageCommand("create", entry, storage),
        update: storageCommand("grow", entry, storage),
      },
      { parent: this, retainOnDelete: true, dependsOn: [...args.storageDependsOn] },
    );

    // The keys as a file on the VM, rewritten in place when they change (no triggers: an
    // update runs create again), in a directory the container mounts: a key change is
    // no input of the container's, so it never replaces it, and open sessions, the
    // home and what the owner installed stay. No delete: the file holds public keys only,
    // nothing reads it once the container is gone, and a returning owner's create rewrites it.
    const keysRoot = args.userKeysDir ?? USER_KEYS_HOST_DIR;
    this.keys = new remote.Command(
      `${name}-keys`,
      {
        connection: args.vm,
        create: userKeysWriteCommand(entry.owner, keysRoot),
        stdin: userKeysFile(entry.sshKeys),
      },
      { parent: this },
    );

    this.container = new docker.Container(
      `${name}-container`,
      {
        name: `semail-user-${entry.owner}`,
        hostname: entry.owner,
        image: args.userImage,
        restart: "unless-stopped",
        // Owners have sudo: without raw sockets they cannot forge ARP or sniff the users'
        // network, where submission passwords travel (as local mode runs them).
        capabilities: { drops: ["NET_RAW"] },
        sysctls: { "net.ipv6.conf.all.disable_ipv6": "1" },
        envs: userEnvironment(entry, args.submission, args.aptProxy),
        mounts: [
          // rslave: a filesystem mounted on the VM after the container started still shows up in it.
          {
            type: "bind",
            source: `${storage.mailRoot}/${entry.owner}`,
            target: USER_MAIL_PATH,
            bindOptions: { propagation: "rslave" },
          },
        ],
        volumes: [
          // Kept on the VM (made on first use), so a replaced container keeps its host key and ssh never warns.
          { hostPath: `${args.hostKeysDir}/${entry.owner}`, containerPath: USER_HOST_KEYS_PATH },
          { hostPath: `${keysRoot}/${entry.owner}`, containerPath: USER_KEYS_DIR, readOnly: true },
        ],
        networksAdvanced: [{ name: args.network, aliases: [entry.owner] }],
      },
      { parent: this, provider: args.docker, dependsOn: [this.storage, this.keys], deleteBeforeReplace: true },
    );
    this.sshAddress = this.container.networkDatas.apply((nets) => nets?.[0]?.ipAddress ?? "");
    this.sshCommand = this.sshAddress.apply((ip) => userSshCommand(entry.owner, args.jumpHost, ip));

    // The address Docker gave the container, not a static one: a static address needs an
    // allocation that never moves when users come and go, and the users list has no field
    // for it (a hash of the owner collides in a /24). Docker keeps the address while the
    // container lives; after a VM reboot `pulumi refresh` + `pulumi up` rewrites the file
    // (docs/operator-guide.md). Meanwhile a stale line reaches at worst another user's
    // sshd, which accepts only that user's keys.
    // A content change is an in-place update (no triggers), so the file is never missing.
    // The delete removes it only if it still holds what this resource wrote, so a stale
    // delete (a renamed resource's) never takes away a newer file.
    const keysFile = this.sshAddress.apply((ip) => jumpKeysFile(ip, entry.sshKeys));
    this.jumpKeys = new remote.Command(
      `${name}-jump`,
      {
        connection: args.vm,
        create: jumpWriteCommand(entry.owner),
        stdin: keysFile,
        delete: keysFile.apply((content) => jumpRemoveCommand(entry.owner, content)),
      },
      { parent: this, dependsOn: [...args.jumpDependsOn] },
    );

    this.mxRecord = mxRecordOf(entry, args.managedDomain, args.mx);
    if (entry.kind === "subdomain" && args.gandi) {
      // The same records the BIND zone holds for the subdomain (config/stack/zone-file.ts).
      const [label] = mailboxSubdomains(args.managedDomain, [entry.domain]);
      const [mx, spf] = subdomainRecords(label!, args.managedDomain, undefined, args.mx);
      // Then what mail programs look up (SRV, autoconfig) and senders (MTA-STS, TLS-RPT), named by the record's own name.
      const clients = [
        ...mailClientRecords(label!, args.managedDomain, undefined, undefined, args.mx),
        ...transportRecords(label!, args.managedDomain, args.transport),
      ].map((r) => [`${r.name.split(".")[0]!.replace(/^_/, "")}-${r.type.toLowerCase()}`, r] as const);
      for (const [part, record] of [["mx", mx], ["spf", spf], ...clients] as const) {
        new gandi.livedns.Record(
          `${name}-${part}`,
          {
            zone: args.managedDomain,
            name: record.name,
            type: record.type,
            ttl: record.ttl,
            values: [...record.values],
          },
          { parent: this, provider: args.gandi },
        );
      }
    }
    this.registerOutputs({ mxRecord: this.mxRecord, sshAddress: this.sshAddress, sshCommand: this.sshCommand });
  }
}
