// SSH connections of the remote commands: dom0 directly, the VM directly or through dom0.
import * as pulumi from "@pulumi/pulumi";
import type { SshTarget } from "../lib/ssh-exec.ts";
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

/**
 * The docker provider's `host` and `sshOpts` (it runs the system ssh with the operator's
 * agent). A configured host key is handed to ssh itself (KnownHostsCommand prints it as a
 * known_hosts line), so no known_hosts file of the operator's needs it.
 */
export function dockerSsh(config: StackConfig): { host: string; sshOpts: string[] } {
  return {
    host: `ssh://${config.vmUser}@${config.vmIp}`,
    sshOpts: [
      "-o",
      "StrictHostKeyChecking=yes",
      ...(config.vmHostKey ? ["-o", `KnownHostsCommand=/bin/echo %H ${config.vmHostKey}`] : []),
      ...(config.vmSshViaDom0 ? ["-o", `ProxyJump=${config.dom0User}@${config.dom0Host}`] : []),
    ],
  };
}

/** The VM as HostFile's ssh reaches it: the same host, key and jump as vmConnection. */
export function vmSshTarget(config: StackConfig, privateKey: pulumi.Input<string>): pulumi.Output<SshTarget> {
  return pulumi.secret(
    pulumi.output(privateKey).apply((key): SshTarget => {
      const dom0: SshTarget = {
        host: config.dom0Host,
        user: config.dom0User,
        privateKey: key,
        hostKey: config.dom0HostKey,
      };
      return {
        host: config.vmIp,
        user: config.vmUser,
        privateKey: key,
        hostKey: config.vmHostKey,
        proxy: config.vmSshViaDom0 ? dom0 : undefined,
      };
    }),
  );
}
