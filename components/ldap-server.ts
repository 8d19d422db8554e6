// The LDAP directory as a slapd container on the VM (assets/images/directory, which
// seeds the base DIT SEMail expects at its first start). Nothing is made here when an
// external directory is configured (see stack.ts).
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

export interface LdapServerArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  /** The directory image. */
  readonly image: pulumi.Input<string>;
  /** Base DN, e.g. dc=semail,dc=email. */
  readonly baseDn: string;
  /** Password of cn=admin,<baseDn>. */
  readonly adminPassword: pulumi.Input<string>;
  /** Directory on the VM holding the database and slapd config. */
  readonly dataDir: string;
  /** Docker network the daemons reach the directory on. */
  readonly network: pulumi.Input<string>;
}

/** Where the admin password is uploaded into the container. */
export const ADMIN_PASSWORD_FILE = "/run/secrets/ldap-admin-password";

/** Container name, also the host name the daemons use. */
export const LDAP_HOST = "semail-ldap";

export class LdapServer extends pulumi.ComponentResource {
  /** URL the daemons and the web form use. */
  readonly url: string;
  readonly container: docker.Container;

  constructor(name: string, args: LdapServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:LdapServer", name, {}, opts);
    this.url = `ldap://${LDAP_HOST}:389`;
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: LDAP_HOST,
        image: args.image,
        restart: "unless-stopped",
        // A file, not an environment variable: `docker inspect` shows the environment.
        envs: [`LDAP_BASE_DN=${args.baseDn}`, `LDAP_ADMIN_PASSWORD_FILE=${ADMIN_PASSWORD_FILE}`],
        uploads: [{ file: ADMIN_PASSWORD_FILE, content: pulumi.secret(args.adminPassword), permissions: "0400" }],
        // The database lives on the VM, so replacing the container keeps the directory.
        volumes: [{ hostPath: `${args.dataDir}/data`, containerPath: "/var/lib/ldap" }],
        ports: [{ internal: 389, external: 389, ip: "127.0.0.1" }],
        networksAdvanced: [{ name: args.network, aliases: [LDAP_HOST] }],
      },
      { parent: this, provider: args.docker, deleteBeforeReplace: true },
    );
    this.registerOutputs({ url: this.url });
  }
}
