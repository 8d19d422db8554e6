// The managed zone: rendered from the config and the users list, served by named on
// the VM, or made as Gandi LiveDNS records.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import * as gandi from "@pulumiverse/gandi";
import { hostScript } from "../config/stack/host-script-paths.ts";
import { shellLine } from "../lib/shell.ts";
import { renderNamedConfStanza, renderZone, zoneRecords, type ZoneInput } from "../config/stack/zone-file.ts";
import { DEFAULT_TRANSPORT_SECURITY, TLSA_NAME, tlsaData } from "../config/stack/transport-security.ts";

/** Where named reads the zone on the VM. */
export const ZONE_DIR = "/etc/bind/semail";

export type DnsZoneArgs = {
  /** The zone's content, without the serial (the VM's script or Gandi sets it). */
  readonly zone: Omit<ZoneInput, "serial">;
  /** The MX key hashes for its TLSA record (read on the VM, config/stack/transport-security.ts tlsaReadCommand); none gives no TLSA. */
  readonly tlsa?: pulumi.Input<readonly string[]>;
} & (
  | {
      /** named on the VM. */
      readonly provider: "bind";
      /** SSH connection to the VM. */
      readonly vm: types.input.remote.ConnectionArgs;
    }
  | {
      /** Gandi LiveDNS; the per-mailbox MX records are made by each Mailbox. */
      readonly provider: "gandi";
      /** The Gandi provider (holds the API key). */
      readonly gandi: gandi.Provider;
    }
);

/** The command that installs the zone (piped on stdin), checks it, and reloads named. */
export function installZoneCommand(domain: string): string {
  const stanza = Buffer.from(renderNamedConfStanza(domain, `${ZONE_DIR}/db.${domain}`)).toString("base64");
  return shellLine(...hostScript("install-zone.sh").split(" "), domain, "--zone-dir", ZONE_DIR, "--stanza-b64", stanza);
}

export class DnsZone extends pulumi.ComponentResource {
  /** The zone text as rendered here (serial 1; the VM's copy carries the real serial). */
  readonly zoneText: pulumi.Output<string>;

  constructor(name: string, args: DnsZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:DnsZone", name, {}, opts);
    // A fixed serial keeps `pulumi preview` quiet when nothing changed; install-zone.sh
    // bumps the installed serial whenever the content differs.
    const input: ZoneInput = { ...args.zone, serial: 1 };
    const transport = input.transport ?? DEFAULT_TRANSPORT_SECURITY;
    const tlsa = pulumi.output(args.tlsa ?? []);
    this.zoneText = tlsa.apply((hashes) => renderZone({ ...input, transport: { ...transport, tlsa: hashes } }));
    if (args.provider === "bind") {
      // Runs again whenever the zone text changes (stdin is an input); no delete: removing
      // the stack leaves named serving the last zone rather than a broken one.
      new remote.Command(
        `${name}-install`,
        {
          connection: args.vm,
          create: installZoneCommand(args.zone.domain),
          update: installZoneCommand(args.zone.domain),
          stdin: this.zoneText,
        },
        { parent: this },
      );
    } else {
      // Gandi owns the SOA and the apex NS of a LiveDNS zone.
      for (const record of zoneRecords(input, { withSubdomainMx: false })) {
        if (record.type === "SOA" || (record.type === "NS" && record.name === "@")) continue;
        const id = `${record.name === "@" ? "apex" : record.name}-${record.type}`
          .toLowerCase()
          .replace(/[^a-z0-9-]/g, "-");
        new gandi.livedns.Record(
          `${name}-${id}`,
          {
            zone: args.zone.domain,
            name: record.name,
            type: record.type,
            ttl: record.ttl,
            values: [...record.values],
          },
          { parent: this, provider: args.gandi },
        );
      }
      // The hashes are known only once read on the VM: the TLSA record set is made apart.
      if (args.tlsa !== undefined) {
        new gandi.livedns.Record(
          `${name}-tlsa`,
          {
            zone: args.zone.domain,
            name: TLSA_NAME,
            type: "TLSA",
            ttl: input.ttl ?? 3600,
            values: tlsa.apply((hashes) => hashes.map(tlsaData)),
          },
          { parent: this, provider: args.gandi },
        );
      }
    }
    this.registerOutputs({ zoneText: this.zoneText });
  }
}
