// Two SEMail hosts as two local data dirs, "main" (where the move runs) and "b": each a mail root
// and a users list of its own, each naming the other in `hosts`. The daemons are started by the
// tests that need them; the steps' test stands in for the one here with `releaseWhenMoving`.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestContext } from "node:test";
import { PROVISIONED_MARKER } from "../../../config/mailbox-layout.ts";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { releaseNotePath } from "../../../config/mailbox-release.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

export const OWNER = "ada";
export const ADDRESS = "ada@semail.test";

export interface TestHostDirs {
  readonly name: "main" | "b";
  readonly mailRoot: string;
  readonly users: string;
  readonly settings: Settings;
  /** The settings as a file would hold them (for `semail --config`). */
  readonly raw: Record<string, unknown>;
  root(owner?: string): string;
}

/** The list both hosts start from: ada and bob on main. */
export function usersYaml(place: { host?: string; moving?: string } = {}): string {
  return [
    "mailboxes:",
    `  - owner: ${OWNER}`,
    `    address: ${ADDRESS}`,
    ...(place.host ? [`    host: ${place.host}`] : []),
    ...(place.moving ? [`    moving: ${place.moving}`] : []),
    "  - owner: bob",
    "    address: bob@semail.test",
    "",
  ].join("\n");
}

/** A provisioned mailbox root, as mailbox-fs.sh leaves one: empty INBOX, mail/, the marker. */
export async function provisionRoot(mailRoot: string, owner: string): Promise<void> {
  const root = path.join(mailRoot, owner);
  await mkdir(path.join(root, "mail"), { recursive: true, mode: 0o700 });
  for (const file of ["INBOX", PROVISIONED_MARKER])
    await writeFile(path.join(root, file), "", { flag: "a", mode: 0o600 });
}

/**
 * Both hosts' dirs and settings; `ports` their inbound listeners (nothing listens until a test
 * starts the daemons), `inbound` more inbound settings for both.
 */
export async function twoHosts(
  t: TestContext,
  options: {
    ports?: { main: number; b: number };
    inbound?: Record<string, unknown>;
    /** How main reaches b's files ("user@host:port"); absent: as paths here. */
    ssh?: string;
  } = {},
): Promise<{ main: TestHostDirs; b: TestHostDirs }> {
  const dir = await tempDir(t, "semail-move-");
  const ports = options.ports ?? { main: 2525, b: 2526 };
  const mailRoot = (name: string) => path.join(dir, name, "mail");
  const users = (name: string) => path.join(dir, name, "users.yaml");
  const host = (name: "main" | "b"): TestHostDirs => {
    const other = name === "main" ? "b" : "main";
    const raw = {
      hostname: `mx-${name}.semail.test`,
      managedDomain: "semail.test",
      users: users(name),
      minMailboxSize: 1,
      hostName: name,
      hosts: {
        [other]: {
          smtp: `127.0.0.1:${ports[other]}`,
          mx: `mx-${other}.semail.test`,
          mailRoot: mailRoot(other),
          users: users(other),
          ...(name === "main" && options.ssh !== undefined ? { ssh: options.ssh } : {}),
        },
      },
      inbound: {
        listen: [`127.0.0.1:${ports[name]}`],
        mailRoot: mailRoot(name),
        maxMessageSize: 1024 * 1024,
        ...options.inbound,
      },
      log: { level: "silent" },
    };
    return {
      name,
      mailRoot: mailRoot(name),
      users: users(name),
      settings: parseSettings(raw, `host ${name}`),
      raw,
      root: (o = OWNER) => path.join(mailRoot(name), o),
    };
  };
  const hosts = { main: host("main"), b: host("b") };
  for (const h of [hosts.main, hosts.b]) {
    await mkdir(h.mailRoot, { recursive: true });
    await writeFile(h.users, usersYaml(), { mode: 0o640 });
    for (const owner of [OWNER, "bob"]) await provisionRoot(h.mailRoot, owner);
  }
  return hosts;
}

/**
 * Stands in for the inbound daemon on `host` in the steps' test: once its list says `owner` is
 * moving, writes the release note the daemon would (mailservers/inbound/released-mailboxes.ts).
 * A reader's INBOX.lock (the steps' fixture leaves one) goes then too, as a reader finishing
 * would: the move holds the mbox locks for its final copy and would wait for it. Bounded by
 * `ms`; stop() ends it early.
 */
export function releaseWhenMoving(host: TestHostDirs, owner: string, ms = 30_000): { stop(): void } {
  let stopped = false;
  void (async () => {
    for (const deadline = Date.now() + ms; !stopped && Date.now() < deadline; await sleep(20)) {
      const moving = /moving: (\S+)/.exec(await readFile(host.users, "utf8"))?.[1];
      if (moving === undefined) continue;
      const note = releaseNotePath(host.mailRoot, owner);
      await mkdir(path.dirname(note), { recursive: true });
      const at = new Date().toISOString();
      await writeFile(note, `${JSON.stringify({ owner, host: host.name, to: moving, at })}\n`);
      await rm(path.join(host.root(owner), "INBOX.lock"), { force: true });
      return;
    }
  })();
  return { stop: () => (stopped = true) };
}
