// One user's mailbox: the mail filesystem on the VM, the user's container, and (for a
// subdomain at a hosted DNS provider) the MX record. Made for each users list entry.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as gandi from "@pulumiverse/gandi";
import type { Mailbox as MailboxEntry } from "../config/users-list.ts";
import { hostScript } from "./host-scripts.ts";
import { shellLine } from "./shell.ts";
import { mxRecordFor, txtData } from "./zone-file.ts";

export type MailboxStorage =
  | { readonly backend: "lvm"; readonly vgName: string; readonly mailRoot: string }
  | { readonly backend: "image"; readonly imageDir: string; readonly mailRoot: string };

export interface MailboxArgs {
  /** The users list entry. */
  readonly entry: MailboxEntry;
  /** The managed domain (for MX targets). */
  readonly managedDomain: string;
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
  /** Image of the user's container (sshd and a mail reader). */
  readonly userImage: string;
  /** Gandi provider when the zone is at Gandi LiveDNS; with named the zone holds the MX. */
  readonly gandi?: gandi.Provider | undefined;
}

/** Where the user's mail filesystem is mounted in their container. */
export const USER_MAIL_PATH = "/mail";
/** Where the user's SSH keys are installed in their container. */
export const USER_KEYS_PATH = "/etc/semail/authorized_keys";

/** The host script call for `action` on this entry's filesystem. */
export function storageCommand(action: "create" | "grow" | "destroy", entry: Pick<MailboxEntry, "owner" | "size">, storage: MailboxStorage): string {
  const where = storage.backend === "lvm" ? ["--vg", storage.vgName] : ["--image-dir", storage.imageDir];
  return shellLine(...hostScript("mailbox-fs.sh").split(" "), action, "--owner", entry.owner, "--size", entry.size, "--mail-root", storage.mailRoot, ...where,
    ...(action === "destroy" ? ["--yes-destroy-mail"] : []));
}

/** The MX record a mailbox's domain needs, or undefined for the managed domain itself. */
export function mxRecordOf(entry: Pick<MailboxEntry, "domain" | "kind">, managedDomain: string): string | undefined {
  return entry.kind === "managed" ? undefined : mxRecordFor(entry.domain, managedDomain);
}

export class Mailbox extends pulumi.ComponentResource {
  /** The MX record for the mailbox's domain (the user adds it for an external domain). */
  readonly mxRecord: string | undefined;
  /** The user's container address on the users' network (SSH through the VM). */
  readonly sshAddress: pulumi.Output<string>;
  readonly storage: remote.Command;
  readonly container: docker.Container;

  constructor(name: string, args: MailboxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:Mailbox", name, {}, opts);
    const { entry, storage } = args;
    // create makes, formats (only a blank device), mounts and populates; update grows.
    // No delete and retainOnDelete: removing the entry keeps the mail; the operator
    // destroys it explicitly (docs/operator-guide.md).
    this.storage = new remote.Command(`${name}-storage`, {
      connection: args.vm,
      create: storageCommand("create", entry, storage),
      update: storageCommand("grow", entry, storage),
    }, { parent: this, retainOnDelete: true, dependsOn: [...args.storageDependsOn] });

    this.container = new docker.Container(`${name}-container`, {
      name: `semail-user-${entry.owner}`,
      hostname: entry.owner,
      image: args.userImage,
      restart: "unless-stopped",
      envs: [`SEMAIL_OWNER=${entry.owner}`, `SEMAIL_ADDRESS=${entry.address}`, "SEMAIL_SUBMISSION=semail-outbound:587"],
      mounts: [{ type: "bind", source: `${storage.mailRoot}/${entry.owner}`, target: USER_MAIL_PATH }],
      uploads: [{ file: USER_KEYS_PATH, content: entry.sshKeys.map((k) => `${k}\n`).join(""), permissions: "0644" }],
      networksAdvanced: [{ name: args.network, aliases: [entry.owner] }],
    }, { parent: this, provider: args.docker, dependsOn: [this.storage], deleteBeforeReplace: true });
    this.sshAddress = this.container.networkDatas.apply((nets) => nets?.[0]?.ipAddress ?? "");

    this.mxRecord = mxRecordOf(entry, args.managedDomain);
    if (entry.kind === "subdomain" && args.gandi) {
      const label = entry.domain.slice(0, -(args.managedDomain.length + 1));
      new gandi.livedns.Record(`${name}-mx`, {
        zone: args.managedDomain, name: label, type: "MX", ttl: 3600, values: [`10 mx.${args.managedDomain}.`],
      }, { parent: this, provider: args.gandi });
      new gandi.livedns.Record(`${name}-spf`, {
        zone: args.managedDomain, name: label, type: "TXT", ttl: 3600, values: [txtData(`v=spf1 include:${args.managedDomain} -all`)],
      }, { parent: this, provider: args.gandi });
    }
    this.registerOutputs({ mxRecord: this.mxRecord, sshAddress: this.sshAddress });
  }
}
