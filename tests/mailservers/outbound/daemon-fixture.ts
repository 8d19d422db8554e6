// An outbound daemon in this process for submission and delivery tests: a temp dir with a
// users list and a spool, settings as a user would write them, injected parts as needed.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "../../../lib/logger.ts";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import {
  startOutbound,
  type OutboundDependencies,
  type RunningOutbound,
} from "../../../mailservers/outbound/daemon.ts";

/** alice and bob as in tests/helpers/slapd.ts, each with one mailbox. */
export const USERS_YAML =
  "mailboxes:\n  - {owner: alice, address: alice@semail.test}\n  - {owner: bob, address: bob@bob.semail.test}\n";

export interface DaemonFixture extends RunningOutbound {
  readonly dir: string;
  readonly settings: Settings;
  /** The port of the first listener. */
  readonly port: number;
}

/** Settings for a daemon on 127.0.0.1:0 with its spool and users list in `dir`; `raw` merges into outbound. */
export async function daemonSettings(
  dir: string,
  raw: { outbound?: Record<string, unknown>; ldap?: unknown; top?: Record<string, unknown>; users?: string } = {},
): Promise<Settings> {
  await writeFile(join(dir, "users.yaml"), raw.users ?? USERS_YAML);
  return parseSettings(
    {
      hostname: "relay.semail.test",
      users: join(dir, "users.yaml"),
      log: { level: "silent" },
      ...(raw.ldap ? { ldap: raw.ldap } : {}),
      ...raw.top,
      outbound: { listen: ["127.0.0.1:0"], spool: join(dir, "spool"), ...raw.outbound },
    },
    "test",
  );
}

export async function startDaemon(
  t: { after: (fn: () => Promise<void>) => void },
  settings: Settings,
  deps: Partial<OutboundDependencies> = {},
): Promise<DaemonFixture> {
  const running = await startOutbound(settings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 }, ...deps });
  t.after(() => running.stop());
  return { ...running, dir: settings.outbound.spool, settings, port: running.addresses[0]!.boundPort };
}

/** AUTH PLAIN's initial response. */
export const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString("base64");
