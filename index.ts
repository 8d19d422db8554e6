// The Pulumi program for a stock `pulumi up` in this folder: the composition root only.
// deploy/pulumi/program.ts reads the config and the users list and builds the deployment;
// `semail deploy` runs the same function inline through the Automation API.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { semailProgram } from "./deploy/pulumi/program.ts";

const outputs = semailProgram(dirname(fileURLToPath(import.meta.url)));

export const vmAddress = outputs.vmAddress;
export const ldapUrl = outputs.ldapUrl;
export const zone = outputs.zone;
export const externalMxRecords = outputs.externalMxRecords;
export const userSshAddresses = outputs.userSshAddresses;
export const userSshCommands = outputs.userSshCommands;
export const webmailUrl = outputs.webmailUrl;
export const scrapeTargets = outputs.scrapeTargets;
