// The LDAP directory as a slapd container on the VM, with the base DIT SEMail expects.
// Nothing is made here when an external directory is configured (see stack.ts).
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { directoryLayout } from "../config/sections/ldap.ts";

export interface LdapServerArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  /** slapd image (osixia/openldap layout). */
  readonly image: string;
  /** Base DN, e.g. dc=semail,dc=email. */
  readonly baseDn: string;
  /** DNS domain of the directory, e.g. semail.email. */
  readonly domain: string;
  /** Password of cn=admin,<baseDn>. */
  readonly adminPassword: pulumi.Input<string>;
  /** Directory on the VM holding the database and slapd config. */
  readonly dataDir: string;
  /** Docker network the daemons reach the directory on. */
  readonly network: pulumi.Input<string>;
}

/** Container name, also the host name the daemons use. */
export const LDAP_HOST = "semail-ldap";

/** ou=people, ou=groups and the admins group (holding the admin DN) under `baseDn`. */
export function baseDitLdif(baseDn: string): string {
  const layout = directoryLayout(baseDn);
  return [
    `dn: ${layout.people}`, "objectClass: organizationalUnit", "ou: people", "",
    `dn: ${layout.groups}`, "objectClass: organizationalUnit", "ou: groups", "",
    `dn: ${layout.adminGroupDn}`, "objectClass: groupOfNames", "cn: admins", `member: cn=admin,${baseDn}`, "",
  ].join("\n");
}

export class LdapServer extends pulumi.ComponentResource {
  /** URL the daemons and the web form use. */
  readonly url: string;
  readonly container: docker.Container;

  constructor(name: string, args: LdapServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:LdapServer", name, {}, opts);
    this.url = `ldap://${LDAP_HOST}:389`;
    this.container = new docker.Container(`${name}-container`, {
      name: LDAP_HOST,
      image: args.image,
      // --copy-service lets the image read the bootstrap LDIF from an uploaded file.
      command: ["--copy-service"],
      restart: "unless-stopped",
      envs: [
        pulumi.interpolate`LDAP_ADMIN_PASSWORD=${args.adminPassword}`,
        `LDAP_DOMAIN=${args.domain}`,
        `LDAP_BASE_DN=${args.baseDn}`,
        "LDAP_TLS=false",
      ],
      uploads: [{ file: "/container/service/slapd/assets/config/bootstrap/ldif/custom/50-semail.ldif", content: baseDitLdif(args.baseDn) }],
      // The database lives on the VM, so replacing the container keeps the directory.
      volumes: [
        { hostPath: `${args.dataDir}/data`, containerPath: "/var/lib/ldap" },
        { hostPath: `${args.dataDir}/config`, containerPath: "/etc/ldap/slapd.d" },
      ],
      ports: [{ internal: 389, external: 389, ip: "127.0.0.1" }],
      networksAdvanced: [{ name: args.network, aliases: [LDAP_HOST] }],
    }, { parent: this, provider: args.docker, deleteBeforeReplace: true });
    this.registerOutputs({ url: this.url });
  }
}
