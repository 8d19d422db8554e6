// The Docker network of the users' containers and the outbound daemon.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

export interface UsersNetworkArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  /** IPv4 subnet, e.g. 172.30.0.0/24. */
  readonly subnet: string;
}

export class UsersNetwork extends pulumi.ComponentResource {
  readonly networkName: pulumi.Output<string>;

  constructor(name: string, args: UsersNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:UsersNetwork", name, {}, opts);
    // Internal: the containers reach the outbound daemon and the VM, not the internet.
    const network = new docker.Network(`${name}-net`, {
      name: "semail-users",
      driver: "bridge",
      internal: true,
      ipamConfigs: [{ subnet: args.subnet }],
    }, { parent: this, provider: args.docker });
    this.networkName = network.name;
    this.registerOutputs({ networkName: this.networkName });
  }
}
