// Stack config and users lists for the Pulumi tests.
import * as pulumi from "@pulumi/pulumi";
import { parseUsersList } from "../../config/users-list.ts";
import { parseStackConfig } from "../../config/stack/stack-config.ts";
import { defineStack } from "../../components/stack.ts";
import { record } from "./harness.ts";
import { REPO_ROOT } from "../repo-path.ts";

export const PROJECT_DIR = REPO_ROOT;

export const SSH_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtest-only-key\n-----END OPENSSH PRIVATE KEY-----\n";
export const LDAP_PASSWORD = "ldap-admin-Pa55-word";
export const GANDI_KEY = "gandi-api-key-0123456789";

/** A complete stack config (keys with the `semail:` prefix), as setAllConfig takes it. */
export function baseConfig(overrides: Record<string, string> = {}): Record<string, string> {
  const plain: Record<string, string> = {
    dom0Host: "dom0.example.net",
    dom0HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5n0Lq3yJ3gq0TbXb1wqHc2l1m3p6Yx0b6n9k2JdXQ",
    vmIp: "192.0.2.25",
    vmIp6: "2001:db8::25",
    vmGateway: "192.0.2.1",
    vmDataDisk: "/dev/vg0/semail-mail",
    managedDomain: "semail.email",
    ldapBaseDn: "dc=semail,dc=email",
    sshPrivateKey: SSH_KEY,
    ldapPassword: LDAP_PASSWORD,
    gandiApiKey: GANDI_KEY,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(plain).map(([k, v]) => [`semail:${k}`, v]));
}

export const SECRET_KEYS = ["semail:sshPrivateKey", "semail:ldapPassword", "semail:gandiApiKey"];

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIkr3jGnfEdp6cnsNJqd4M8ynTelKLn0mmsEDQBEfi6f alice@laptop";
export const ALICE = `  - owner: alice\n    address: alice@alice.semail.email\n    size: 1GiB\n    sshKeys: ["${KEY}"]\n`;
export const BOB = "  - owner: bob\n    address: bob@example.org\n";
export const CAROL = "  - owner: carol\n    address: carol@semail.email\n    size: 2GiB\n";
export const ALICE_KEY = KEY;

/** A users list from entries. */
export function usersYaml(...entries: string[]): string {
  return entries.length === 0 ? "mailboxes: []\n" : `mailboxes:\n${entries.join("")}`;
}

/** Runs the stack as index.ts does, under fresh mocks. */
export function runStack(users: string, overrides: Record<string, string> = {}) {
  return record(baseConfig(overrides), SECRET_KEYS, () => {
    const config = new pulumi.Config("semail");
    const settings = parseStackConfig((key) => config.get(key));
    const list = parseUsersList(users, {
      managedDomain: settings.managedDomain,
      defaultSize: settings.defaultMailboxSize,
      minSize: settings.minMailboxSize,
    });
    return defineStack(
      settings,
      {
        sshPrivateKey: config.requireSecret("sshPrivateKey"),
        ldapPassword: config.getSecret("ldapPassword"),
        gandiApiKey: config.getSecret("gandiApiKey"),
        acmeAccountKey: config.getSecret("acmeAccountKey"),
        backupPassword: config.getSecret("backupPassword"),
      },
      list,
      PROJECT_DIR,
    );
  });
}
