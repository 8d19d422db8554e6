// Two SEMail hosts on loopback: inbound daemons "a" and "b", each with its own mail root and
// port, each naming the other in `hosts`, reading one shared users list (or one each).
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import type { Settings } from "../../../config/settings.ts";
import { startInbound, type RunningInbound } from "../../../mailservers/inbound/daemon.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { freePort } from "../../helpers/pebble.ts";
import { provisionRoot } from "./store/fixture.ts";
import { testSettings } from "./fixture.ts";

export const HOST_NAMES = ["a", "b"] as const;
export type HostName = (typeof HOST_NAMES)[number];

export interface TestHost {
  readonly name: HostName;
  readonly settings: Settings;
  readonly mailRoot: string;
  readonly port: number;
  readonly daemon: RunningInbound;
  inbox(owner: string): string;
  /** The mailbox's Junk folder file. */
  junk(owner: string): string;
  /** Stops the daemon now (the test's end then leaves it). */
  stop(): Promise<void>;
}

export interface HostPair {
  readonly a: TestHost;
  readonly b: TestHost;
  /** The users list each host reads (one file when they share it). */
  readonly usersFile: Record<HostName, string>;
}

/**
 * Starts both hosts. `users` is the shared list's YAML, or one per host (lists that disagree);
 * `owners` get a mailbox root on both hosts, as after a move's copy.
 */
export async function startHostPair(
  t: TestContext,
  options: {
    users: string | Record<HostName, string>;
    owners: readonly string[];
    inbound?: Record<string, unknown>;
    /** The address the other host knows each by (its hosts.<name>.ip); absent: none, as in the fixture's default. */
    ips?: Partial<Record<HostName, string>>;
  },
): Promise<HostPair> {
  const dir = await tempDir(t, "semail-hosts-");
  // Each host must know the other's port before either starts.
  const ports = { a: await freePort(), b: await freePort() };
  const mailRoot = (name: HostName) => path.join(dir, name, "mail");
  const shared = typeof options.users === "string";
  const usersFile = {
    a: path.join(dir, shared ? "users.yaml" : "users-a.yaml"),
    b: path.join(dir, shared ? "users.yaml" : "users-b.yaml"),
  };
  for (const name of HOST_NAMES)
    await writeFile(usersFile[name], typeof options.users === "string" ? options.users : options.users[name]);
  const start = async (name: HostName): Promise<TestHost> => {
    const other: HostName = name === "a" ? "b" : "a";
    const settings = testSettings(
      path.join(dir, name),
      { listen: [`127.0.0.1:${ports[name]}`], lockTimeout: 2000, ...options.inbound },
      {
        hostName: name,
        hostname: `mx-${name}.semail.test`,
        users: usersFile[name],
        hosts: {
          [other]: {
            smtp: `127.0.0.1:${ports[other]}`,
            mx: `mx-${other}.semail.test`,
            mailRoot: mailRoot(other),
            ...(options.ips?.[other] ? { ip: options.ips[other] } : {}),
          },
        },
      },
    );
    for (const owner of options.owners) await provisionRoot(mailRoot(name), owner);
    const daemon = await startInbound(settings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
    let stopped: Promise<void> | undefined;
    const stop = () => (stopped ??= daemon.stop());
    t.after(stop);
    return {
      name,
      settings,
      mailRoot: mailRoot(name),
      port: ports[name],
      daemon,
      inbox: (owner) => path.join(mailRoot(name), owner, "INBOX"),
      junk: (owner) => path.join(mailRoot(name), owner, "mail", "Junk"),
      stop,
    };
  };
  return { a: await start("a"), b: await start("b"), usersFile };
}

/** A users-list entry; `host` and `moving` as the list writes them. */
export function entry(owner: string, address: string, place: { host?: string; moving?: string } = {}): string {
  return [
    `  - owner: ${owner}`,
    `    address: ${address}`,
    ...(owner === "ada" ? ["    aliases: [lovelace]"] : []),
    ...(place.host ? [`    host: ${place.host}`] : []),
    ...(place.moving ? [`    moving: ${place.moving}`] : []),
  ].join("\n");
}

/** A users list of `entries` (from entry()). */
export function usersList(...entries: string[]): string {
  return `mailboxes:\n${entries.join("\n")}\n`;
}
