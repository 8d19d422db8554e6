// The Pulumi program: read the stack config and the users list, build the deployment,
// export its outputs. Everything else lives in components/.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { parseUsersList } from "./config/users-list.ts";
import { parseStackConfig } from "./config/stack/stack-config.ts";
import { defineStack } from "./components/stack.ts";

const projectDir = dirname(fileURLToPath(import.meta.url));
const config = new pulumi.Config("semail");
const settings = parseStackConfig((key) => config.get(key));
const usersPath = resolve(projectDir, settings.usersList);
const users = parseUsersList(readFileSync(usersPath, "utf8"), {
  managedDomain: settings.managedDomain, defaultSize: settings.defaultMailboxSize, minSize: settings.minMailboxSize,
}, `${settings.usersList} (semail:usersList)`);

const stack = defineStack(settings, {
  sshPrivateKey: config.requireSecret("sshPrivateKey"),
  ldapPassword: config.getSecret("ldapPassword"),
  gandiApiKey: config.getSecret("gandiApiKey"),
}, users, projectDir);

export const vmAddress = stack.vmAddress;
export const ldapUrl = stack.ldapUrl;
export const zone = stack.zone;
export const externalMxRecords = stack.externalMxRecords;
export const userSshAddresses = stack.userSshAddresses;
export const userSshCommands = stack.userSshCommands;
export const webmailUrl = stack.webmailUrl;
