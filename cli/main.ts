// `semail <part>`: one subcommand per part of SEMail.
import { ConfigError } from "../config/settings.ts";
import { UsersListError } from "../config/users-list.ts";
import { runCommand, type Command } from "./command.ts";

/** Loaded lazily so one part's dependencies do not slow another's start. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  inbound: {
    summary: "the inbound SMTP daemon: stores mail for known users in their mbox files",
    load: async () => (await import("./inbound.ts")).default,
  },
  outbound: {
    summary: "the outbound SMTP daemon: authenticated submission, MX delivery, retries, bounces",
    load: async () => (await import("./outbound.ts")).default,
  },
  queue: {
    summary: "inspect the outbound queue: list | flush | remove ID",
    load: async () => (await import("./queue.ts")).default,
  },
  web: {
    summary: "the self-service web form (LDAP login, create or delete a mailbox)",
    load: async () => (await import("./web.ts")).default,
  },
  deploy: {
    summary: "deploy with Pulumi (the program inline): up | preview | drift | destroy | outputs",
    load: async () => (await import("./deploy.ts")).default,
  },
  cert: {
    summary: "issue or renew the TLS certificate from an ACME CA: renew | status",
    load: async () => (await import("./cert.ts")).default,
  },
  report: {
    summary: "what is wrong, in one place: DNS, certificate, directory, queue, mailboxes (--json)",
    load: async () => (await import("./report.ts")).default,
  },
  backup: {
    summary: "back up mail, directory, keys and state with restic: run | list",
    load: async () => (await import("./backup.ts")).default,
  },
  restore: {
    summary: "restore a mailbox (--mailbox ID) or everything from a backup (--at SNAPSHOT)",
    load: async () => (await import("./restore.ts")).default,
  },
  mailbox: {
    summary: "move a mailbox to another SEMail host while mail keeps arriving: move ID --to HOST",
    load: async () => (await import("./mailbox-move.ts")).default,
  },
  bans: {
    summary: "ban addresses that keep failing logins or hitting limits: run | list | unban ADDR",
    load: async () => (await import("./bans.ts")).default,
  },
  start: {
    summary: "all of SEMail on this machine, on loopback, with demo users",
    load: async () => (await import("./start.ts")).default,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    "usage: semail <command> [options]",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    "",
    "Every command takes --config FILE and --help.",
    "",
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`semail: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  let command: Command | undefined;
  try {
    command = await entry.load();
    await runCommand(command, rest);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsersListError) {
      process.stderr.write(`semail ${name}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
