// The inbound daemon in-process on 127.0.0.1:0 with a temp mail root and users list.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { startInbound, type RunningInbound } from "../../../mailservers/inbound/daemon.ts";
import { folderName } from "../../../mailservers/inbound/store/index.ts";
import { provisionRoot, readMbox, type ParsedMessage } from "./store/fixture.ts";
import { until } from "../../../testkit/until.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

export { readMbox, type ParsedMessage };

export interface UserEntry {
  readonly owner: string;
  readonly address: string;
  readonly size?: string | number;
  readonly aliases?: readonly string[];
}

export const USERS: readonly UserEntry[] = [
  { owner: "sow", address: "souleymane@sow.semail.test" },
  { owner: "ada", address: "ada@semail.test" },
  { owner: "ext", address: "me@External.example" },
];

export function usersYaml(users: readonly UserEntry[]): string {
  return `mailboxes:\n${users.map((u) => `  - owner: ${u.owner}\n    address: ${u.address}\n${u.size !== undefined ? `    size: ${u.size}\n` : ""}${u.aliases ? `    aliases: [${u.aliases.join(", ")}]\n` : ""}`).join("")}`;
}

export interface InboundFixture {
  readonly dir: string;
  readonly mailRoot: string;
  readonly usersFile: string;
  readonly settings: Settings;
  readonly daemon: RunningInbound;
  readonly port: number;
  /** Path of an owner's INBOX, or of the (recipient, sender) folder. */
  inbox(owner: string): string;
  folder(owner: string, recipient: string, sender: string): string;
}

/**
 * Creates each owner's mailbox root, as provisioning does before mail can arrive (the
 * local applier's mkdir, mailbox-fs.sh's mount): the daemon never creates one itself.
 */
export async function provision(mailRoot: string, users: readonly UserEntry[]): Promise<void> {
  for (const user of users) await provisionRoot(mailRoot, user.owner);
}

/** The raw settings for a test daemon; `inbound` is merged over the defaults below. */
export function testSettings(
  dir: string,
  inbound: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Settings {
  return parseSettings(
    {
      hostname: "mx.semail.test",
      managedDomain: "semail.test",
      users: path.join(dir, "users.yaml"),
      minMailboxSize: 1,
      inbound: { listen: ["127.0.0.1:0"], mailRoot: path.join(dir, "mail"), maxMessageSize: 256 * 1024, ...inbound },
      log: { level: "silent" },
      ...extra,
    },
    "test",
  );
}

export async function startFixture(
  t: TestContext,
  options: {
    users?: readonly UserEntry[];
    inbound?: Record<string, unknown>;
    settings?: Record<string, unknown>;
    freeSpace?: (p: string) => Promise<number>;
    clock?: () => number;
  } = {},
): Promise<InboundFixture> {
  const dir = await tempDir(t, "semail-inbound-");
  const settings = testSettings(dir, options.inbound, options.settings);
  await writeFile(settings.users, usersYaml(options.users ?? USERS));
  await provision(settings.inbound.mailRoot, options.users ?? USERS);
  const daemon = await startInbound(settings, {
    logger: silentLogger(),
    limits: { closeTimeoutMs: 200 },
    ...(options.freeSpace ? { freeSpace: options.freeSpace } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  t.after(() => daemon.stop());
  const mailRoot = settings.inbound.mailRoot;
  return {
    dir,
    mailRoot,
    usersFile: settings.users,
    settings,
    daemon,
    port: daemon.addresses[0]!.boundPort,
    inbox: (owner) => path.join(mailRoot, owner, "INBOX"),
    folder: (owner, recipient, sender) => path.join(mailRoot, owner, "mail", folderName(recipient, sender)),
  };
}

const BIN = repoPath("bin/semail.mjs");

/**
 * Starts `semail inbound` as a child; resolves with it and its port once it logs
 * "listening". `node` replaces node's arguments before the command (default: the sources).
 */
export async function spawnInbound(
  t: TestContext,
  config: string,
  launch: { node?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(process.execPath, [...(launch.node ?? [BIN]), "inbound", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: launch.env ?? process.env,
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  let port = 0;
  await until(
    () => {
      const match = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(output);
      if (match) port = Number(match[1]);
      if (child.exitCode !== null) throw new Error(`semail inbound exited: ${output}`);
      return port > 0;
    },
    "semail inbound to listen",
    20_000,
  );
  return { child, port, output: () => output };
}
