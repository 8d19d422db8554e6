// The Pulumi program as a function: read the stack config and the users list, build the
// deployment, return its outputs. index.ts runs it for a stock `pulumi up`; the engine driver
// (engine.ts) runs it inline, once per operation, so nothing is read at import and no state
// of one run reaches the next.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parseUsersList } from "../../config/users-list.ts";
import { parseStackConfig, StackConfigError } from "../../config/stack/stack-config.ts";
import { defineStack, type StackOutputs } from "../../components/stack.ts";

/** Pulumi's own check of whether a config value was set with --secret (not in its .d.ts). */
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret(key: string): boolean }).isConfigSecret;

/**
 * A secret that may be unset: Pulumi.yaml gives it the default "" (so a stack that does not use
 * it need not set it), which counts as unset here. Set, it must have been set as a secret.
 */
export function optionalSecret(key: string): pulumi.Output<string> | undefined {
  const value = pulumi.runtime.getConfig(`semail:${key}`);
  if (!value) return undefined;
  if (!isConfigSecret(`semail:${key}`)) {
    throw new StackConfigError([
      `semail:${key} is stored in clear in the stack's file: set it as a secret (pulumi config set --secret ${key} VALUE)`,
    ]);
  }
  return pulumi.secret(value);
}

/** Builds the deployment; its outputs are the stack's (`pulumi stack output`). */
export function semailProgram(projectDir: string): StackOutputs {
  const config = new pulumi.Config("semail");
  const settings = parseStackConfig((key) => config.get(key));
  const usersPath = resolve(projectDir, settings.usersList);
  const users = parseUsersList(
    readFileSync(usersPath, "utf8"),
    {
      managedDomain: settings.managedDomain,
      defaultSize: settings.defaultMailboxSize,
      minSize: settings.minMailboxSize,
    },
    `${settings.usersList} (semail:usersList)`,
  );
  return defineStack(
    settings,
    {
      sshPrivateKey: config.requireSecret("sshPrivateKey"),
      ldapPassword: optionalSecret("ldapPassword"),
      gandiApiKey: optionalSecret("gandiApiKey"),
      acmeAccountKey: optionalSecret("acmeAccountKey"),
      backupPassword: optionalSecret("backupPassword"),
    },
    users,
    projectDir,
  );
}
