// SSH connections of the remote commands: dom0 directly, the VM directly or through dom0.
import type * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import type { StackConfig } from "../config/stack/stack-config.ts";

type Connection = types.input.remote.ConnectionArgs;

/** dom0, with its host key checked. */
export function dom0Connection(config: StackConfig, privateKey: pulumi.Input<string>): Connection {
  return { host: config.dom0Host, user: config.dom0User, privateKey, hostKey: config.dom0HostKey };
}

/** The VM; through dom0 as a jump host when `vmSshViaDom0` is set. */
export function vmConnection(config: StackConfig, privateKey: pulumi.Input<string>): Connection {
  return {
    host: config.vmIp,
    user: config.vmUser,
    privateKey,
    ...(config.vmHostKey ? { hostKey: config.vmHostKey } : {}),
    ...(config.vmSshViaDom0 ? { proxy: dom0Connection(config, privateKey) } : {}),
    // A new VM takes a while to boot; keep dialling for about five minutes.
    dialErrorLimit: 30,
    perDialTimeout: 10,
  };
}

/** The docker provider's `host` and `sshOpts` (it uses the system ssh and the operator's agent). */
export function dockerSsh(config: StackConfig): { host: string; sshOpts: string[] } {
  return {
    host: `ssh://${config.vmUser}@${config.vmIp}`,
    sshOpts: [
      "-o", "StrictHostKeyChecking=yes",
      ...(config.vmSshViaDom0 ? ["-o", `ProxyJump=${config.dom0User}@${config.dom0Host}`] : []),
    ],
  };
}
