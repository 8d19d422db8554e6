// Production applier: the web form's change becomes a stack update through the engine driver
// (engine.ts: the program inline, no language host). Applies are serialised by the form's
// ApplyRunner; each resource the engine finishes is reported to the page as it happens.
import { resolve } from "node:path";
import type { ConfigMap, OutputMap } from "@pulumi/pulumi/automation/index.js";
import type { Applier, ApplyContext } from "../../config/applier.ts";
import { parseStackConfig, stackTransportSecurity } from "../../config/stack/stack-config.ts";
import type { TransportSecurity } from "../../config/stack/transport-security.ts";
import type { EngineOptions, SemailEngine } from "./engine.ts";
import { decideKeptMailOnVm, keptMailOnVm, vmMailboxesOf, type VmMailboxes } from "./kept-mail.ts";
import { stepLine } from "./steps.ts";

export interface PulumiApplierOptions extends Omit<EngineOptions, "createStack"> {
  /** The users list the form writes; the apply refuses to run when the stack reads another file. */
  readonly usersFile?: string;
  /** The VM's SSH port for the kept-mail questions; 22 unless given (a test's own sshd). */
  readonly vmSshPort?: number;
}

/** The program's default for semail:usersList (Pulumi.yaml). */
const DEFAULT_USERS_LIST = "users.yaml";

/** The stack output userSshCommands (owner -> `ssh -J ...`, the program's), or none. */
export function sshCommandsOf(outputs: OutputMap): Readonly<Record<string, string>> {
  const value: unknown = outputs.userSshCommands?.value;
  if (typeof value !== "object" || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
  );
}

/** The stack output webmailUrl, or none. */
export function webmailUrlOf(outputs: OutputMap): string | undefined {
  const value: unknown = outputs.webmailUrl?.value;
  return typeof value === "string" && /^https:\/\//.test(value) ? value : undefined;
}

/** The MTA-STS and TLS-RPT settings of the stack's config, as the program reads them (components/stack.ts). */
export function transportSecurityOf(config: ConfigMap): TransportSecurity {
  return stackTransportSecurity(parseStackConfig((key) => config[`semail:${key}`]?.value));
}

export function createPulumiApplier(options: PulumiApplierOptions): Applier {
  const projectDir = resolve(options.projectDir);
  // Opened once; a failed open is tried again at the next use.
  let engine: Promise<SemailEngine> | undefined;
  const open = (): Promise<SemailEngine> => {
    // Loaded at the first use: the Pulumi SDK is large, and a form that applies nothing yet needs none of it.
    engine ??= import("./engine.ts")
      .then(({ openEngine }) => openEngine(options))
      .catch((err: unknown) => {
        engine = undefined;
        throw err;
      });
    return engine;
  };
  // The last up's outputs (SSH lines, the webmail); read from the stack when asked before any
  // up since the form started. A failed read is tried again at the next ask.
  let outputs: Promise<OutputMap> | undefined;
  const lastOutputs = (): Promise<OutputMap> => {
    outputs ??= open()
      .then((e) => e.outputs())
      .catch(() => {
        outputs = undefined;
        return {};
      });
    return outputs;
  };
  // Where the VM's mailbox filesystems are, from the stack's config: read once, again after a failure.
  let vmMailboxes: Promise<VmMailboxes> | undefined;
  const vm = (): Promise<VmMailboxes> => {
    vmMailboxes ??= open()
      .then((e) => e.stack.getAllConfig())
      .then((config) => vmMailboxesOf(config, options.vmSshPort))
      .catch((err: unknown) => {
        vmMailboxes = undefined;
        throw err;
      });
    return vmMailboxes;
  };
  return {
    name: "pulumi",
    async keptMail(owner) {
      return keptMailOnVm(projectDir, await vm(), owner);
    },
    async decideKeptMail(owner, address, choice) {
      await decideKeptMailOnVm(projectDir, await vm(), owner, address, choice);
    },
    async sshCommand(owner: string): Promise<string | undefined> {
      return sshCommandsOf(await lastOutputs())[owner];
    },
    async webmailUrl(): Promise<string | undefined> {
      return webmailUrlOf(await lastOutputs());
    },
    async transportSecurity(): Promise<TransportSecurity> {
      return transportSecurityOf(await (await open()).stack.getAllConfig());
    },
    async apply(context: ApplyContext): Promise<void> {
      const stack = await open();
      const log = context.logger.child({ applier: "pulumi", stack: options.stack });
      if (options.usersFile !== undefined) {
        const configured = await stack.stack.getConfig("semail:usersList").then(
          (v) => v.value,
          () => DEFAULT_USERS_LIST,
        );
        const read = resolve(projectDir, configured);
        if (read !== resolve(options.usersFile)) {
          throw new Error(
            `stack ${options.stack} reads the users list ${read} (semail:usersList) but the form writes ${resolve(options.usersFile)} (setting users): make them the same file`,
          );
        }
      }
      const result = await stack.up({
        signal: context.signal,
        onStep: (step) => {
          log.info({ op: step.op, type: step.type, resource: step.name, properties: step.properties }, "pulumi up");
          context.progress?.(stepLine(step));
        },
      });
      outputs = Promise.resolve(result.outputs);
    },
  };
}
