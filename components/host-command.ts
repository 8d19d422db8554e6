// A command the program runs on a host whose result can be read back: with its check, a
// refresh sees a hand change (a managed file edited, a firewall rule deleted) as drift, which
// `semail deploy drift` names and `up --refresh` repairs by running the command again.
// @pulumi/command cannot do that: its commands have no state to read.
// A dynamic provider: Pulumi serialises these functions into its provider process, which
// loads host-command/ops.ts from this checkout by URL (Node 26 is on the engine's PATH).
import * as pulumi from "@pulumi/pulumi";
import type { SshTarget } from "../lib/ssh-exec.ts";

const OPS = new URL("./host-command/ops.ts", import.meta.url).href;

type Ops = typeof import("./host-command/ops.ts");

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs) {
    const ops: Ops = await import(OPS);
    return { id: `${inputs.connection.host}:${Date.now().toString(36)}`, outs: await ops.runHostCommand(inputs) };
  },
  async read(id, props) {
    const ops: Ops = await import(OPS);
    const state = await ops.checkHostCommand(props);
    return state === undefined ? {} : { id, props: state };
  },
  async diff(_id, olds, news) {
    const ops: Ops = await import(OPS);
    return { changes: ops.hostCommandDiffs(olds, news).length > 0 };
  },
  async update(_id, _olds, news) {
    const ops: Ops = await import(OPS);
    return { outs: await ops.runHostCommand(news) };
  },
  async delete(_id, props) {
    const ops: Ops = await import(OPS);
    await ops.deleteHostCommand(props);
  },
};

export interface HostCommandArgs {
  /** How to reach the host (the private key a secret). */
  readonly connection: pulumi.Input<SshTarget>;
  /** A shell line run on create and again on every update. */
  readonly create: pulumi.Input<string>;
  readonly stdin?: pulumi.Input<string>;
  /** A shell line whose output describes what `create` left; non-zero when it is gone. */
  readonly check: pulumi.Input<string>;
  readonly delete?: pulumi.Input<string>;
}

export class HostCommand extends pulumi.dynamic.Resource {
  constructor(name: string, args: HostCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { ...args, expected: undefined, actual: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "semail",
      "HostCommand",
    );
  }
}
