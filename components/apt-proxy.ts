// The users' apt proxy (apt-cacher-ng, assets/images/apt-proxy): the one way out of
// the internal users' network, and it talks only to Debian's mirrors. Users install
// software through it; nothing else they run reaches the internet.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { APT_PROXY_HOST, APT_PROXY_PORT } from "../config/stack/apt-proxy.ts";

export interface AptProxyArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  readonly image: pulumi.Input<string>;
  /** The users' network (internal), where the containers reach it, and its fixed address there. */
  readonly usersNetwork: pulumi.Input<string>;
  readonly ipv4Address: string;
  /** A network with a way out, where it reaches the mirrors. */
  readonly outsideNetwork: pulumi.Input<string>;
  /** Its cache on the VM. */
  readonly cacheDir: string;
}

export class AptProxy extends pulumi.ComponentResource {
  /** What the users' containers put in Acquire::http::Proxy. */
  readonly url: string;
  readonly container: docker.Container;

  constructor(name: string, args: AptProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:AptProxy", name, {}, opts);
    this.url = `http://${APT_PROXY_HOST}:${APT_PROXY_PORT}`;
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: APT_PROXY_HOST,
        image: args.image,
        restart: "unless-stopped",
        volumes: [{ hostPath: args.cacheDir, containerPath: "/var/cache/apt-cacher-ng" }],
        networksAdvanced: [
          { name: args.usersNetwork, aliases: [APT_PROXY_HOST], ipv4Address: args.ipv4Address },
          { name: args.outsideNetwork },
        ],
      },
      { parent: this, provider: args.docker, deleteBeforeReplace: true },
    );
    this.registerOutputs({ url: this.url });
  }
}
