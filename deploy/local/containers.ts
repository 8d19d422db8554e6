// The users' containers of local mode, made as production's Mailbox component makes them
// (components/mailbox.ts): one per mailbox, from the user image, on the internal users'
// network, the mailbox root bind-mounted at /mail (rslave; the owner's home is /mail/home),
// the keys from the users list in a root-owned directory mounted read-only at
// /etc/semail/keys, the uid from mailUid, restarted by Docker when it dies. A key change
// rewrites the keys file in that directory and nothing else: the container, its open
// sessions and what the owner installed in it stay. A jump container stands in for the
// VM's jump account: its sshd is set up by the very jump-host.sh and stanza the VM gets,
// and each owner's keys file is written by jump-access.sh with the lines jumpKeysFile
// makes, so `ssh -J` works as on the VM. The users' apt proxy (the apt-proxy image) sits on
// the users' network too, as in production.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import {
  jumpKeysFile,
  jumpRemoveCommand,
  jumpSetupCommand,
  jumpSshdStanza,
  jumpWriteCommand,
  userSshCommand,
} from "../../config/stack/jump-host.ts";
import {
  USER_HOST_KEYS_PATH,
  USER_KEYS_DIR,
  USER_KEYS_FILE,
  USER_MAIL_PATH,
  userEnvironment,
  userKeysFile,
} from "../../config/stack/user-container.ts";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import type { MailboxEntry, UsersList } from "../../config/users-list.ts";
import type { Docker } from "./docker-engine.ts";
import type { LocalImages } from "./images.ts";
import type { UsersNetwork } from "./users-network.ts";

const exec = promisify(execFile);
const READY_MS = 60_000;

export interface LocalContainersOptions {
  readonly docker: Docker;
  /** Short id of this local mode instance (names and labels). */
  readonly id: string;
  /** Where local mode keeps each container's keys and host keys: <dir>/<owner>/. */
  readonly dir: string;
  readonly mailRoot: string;
  readonly images: LocalImages;
  readonly network: UsersNetwork;
  /** The outbound daemon as the containers reach it (gateway:port). */
  readonly submission: string;
  /** The apt proxy as the containers reach it (http://IP:PORT). */
  readonly aptProxy: string;
  /** The loopback port the jump sshd is published on. */
  readonly jumpPort: number;
  readonly logger: Logger;
}

export const LOCAL_LABEL = "semail.local";
/** A user's container: whose it is, and a hash of its settings (a new hash replaces it; the keys are no setting). */
const OWNER_LABEL = "semail.local.owner";
const SPEC_LABEL = "semail.local.spec";

/** Names of instance `id`'s containers. */
export const containerName = (id: string, owner: string) => `semail-${id}-user-${owner}`;
export const jumpName = (id: string) => `semail-${id}-jump`;
export const aptProxyName = (id: string) => `semail-${id}-apt-proxy`;

/** Where local mode keeps `owner`'s keys file: a directory of root's (0755), mounted read-only in their container. */
export const keysDir = (dir: string, owner: string) => join(dir, owner, "keys");

/** The container's settings as `docker run` arguments (without its name and labels). */
export function userRunArgs(
  m: Pick<MailboxEntry, "owner" | "address">,
  o: Pick<LocalContainersOptions, "dir" | "mailRoot" | "images" | "network" | "submission" | "aptProxy">,
): string[] {
  return [
    "--hostname",
    m.owner,
    "--restart",
    "unless-stopped",
    "--network",
    o.network.name,
    "--network-alias",
    m.owner,
    // No IPv6 (the firewall speaks IPv4), and no raw sockets: no forged ARP or source address on the bridge.
    "--sysctl",
    "net.ipv6.conf.all.disable_ipv6=1",
    "--cap-drop",
    "NET_RAW",
    // rslave: a filesystem mounted under the mail root after the container started still shows up in it.
    "--mount",
    `type=bind,source=${join(o.mailRoot, m.owner)},target=${USER_MAIL_PATH},bind-propagation=rslave`,
    "--mount",
    `type=bind,source=${join(o.dir, m.owner, "host-keys")},target=${USER_HOST_KEYS_PATH}`,
    // The directory, not the file: a file bind mount keeps the inode it was given, and the keys are renamed over.
    "--mount",
    `type=bind,source=${keysDir(o.dir, m.owner)},target=${USER_KEYS_DIR},readonly`,
    ...userEnvironment(m, o.submission, o.aptProxy).flatMap((e) => ["-e", e]),
    o.images.user,
  ];
}

function specHash(args: readonly string[]): string {
  return createHash("sha256").update(JSON.stringify(args)).digest("hex").slice(0, 16);
}

export interface LocalContainers {
  /** Starts the jump container (made anew: its keys files come from the next sync). */
  startJump(): Promise<void>;
  /** Starts the apt proxy (made anew; its cache is kept). */
  startAptProxy(): Promise<void>;
  /**
   * One container per mailbox (made, replaced when its settings changed, started), none for a removed one; each
   * keys file is rewritten in place when its keys changed, and the jump's keys files follow.
   * One `docker ps` finds what changed: a mailbox whose container already runs as it should costs no other docker command.
   */
  sync(list: UsersList, signal?: AbortSignal): Promise<void>;
  /** The line that opens `owner`'s container, once it has an address. */
  sshCommand(owner: string): Promise<string | undefined>;
  /** Stops every container of this instance (kept: the next start finds them). */
  stop(): Promise<void>;
}

export function createLocalContainers(o: LocalContainersOptions): LocalContainers {
  const { docker, id } = o;
  const label = (...pairs: string[]) => pairs.flatMap((p) => ["--label", p]);
  /** What each owner's jump keys file holds (for jump-access.sh's remove). */
  const written = new Map<string, string>();
  /** What each owner's container keys file holds, as this instance last wrote or read it. */
  const keysWritten = new Map<string, string>();
  const addresses = new Map<string, string>();

  const inspect = async (name: string) => {
    const text = await docker.run(["inspect", "--type", "container", name]).catch(() => undefined);
    return text === undefined
      ? undefined
      : (
          JSON.parse(text) as Array<{
            State: { Running: boolean; Restarting: boolean; Status: string };
            Config: { Labels: Record<string, string> };
            NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
          }>
        )[0];
  };
  const logs = async (name: string) => {
    const { stdout, stderr } = await exec("docker", ["logs", "--tail", "20", name], {
      env: { ...process.env, DOCKER_HOST: docker.host },
      timeout: 10_000,
    }).catch(() => ({ stdout: "", stderr: "" }));
    return `${stdout}${stderr}`.trim();
  };
  /** Waits (bounded) until the container's own healthcheck script passes (its sshd or proxy serves), failing with its log when it does not. */
  const ready = async (name: string, health: string) => {
    const deadline = Date.now() + READY_MS;
    for (;;) {
      const ok = await docker.run(["exec", name, health], { timeoutMs: 10_000 }).then(
        () => true,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline)
        throw new Error(`${name} was not ready within ${READY_MS / 1000} s (${health} fails): ${await logs(name)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const writeJumpKeys = async (owner: string, content: string) => {
    await docker.run(["exec", "-i", jumpName(id), "bash", "-c", jumpWriteCommand(owner)], { input: content });
    written.set(owner, content);
  };
  const removeJumpKeys = async (owner: string) => {
    const content = written.get(owner);
    if (content === undefined) return;
    await docker.run(["exec", jumpName(id), "bash", "-c", jumpRemoveCommand(owner, content)]);
    written.delete(owner);
  };

  /** What a user's container is made from: its settings. */
  const specOf = (m: MailboxEntry) => specHash(userRunArgs(m, o));
  /**
   * The owner's keys file, rewritten (a new file renamed over the old one) only when the keys
   * changed: sshd in the container reads it at each login. Root-owned and writable by root
   * alone, in a directory of the same kind, as sshd and the user image insist.
   */
  const writeKeys = async (m: MailboxEntry) => {
    const content = userKeysFile(m.sshKeys);
    if (keysWritten.get(m.owner) === content) return;
    const dir = keysDir(o.dir, m.owner);
    const file = join(dir, USER_KEYS_FILE);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(dir, 0o755);
    if ((await readFile(file, "utf8").catch(() => undefined)) !== content) {
      await writeFileAtomic(file, content, 0o644);
      if (keysWritten.has(m.owner))
        o.logger.info(
          { owner: m.owner, keys: m.sshKeys.length },
          "user's keys rewritten in place; the container runs on",
        );
    }
    await chmod(file, 0o644);
    keysWritten.set(m.owner, content);
  };
  /** The users' containers of this instance by owner (the jump and apt proxy have no owner label). */
  const listUsers = async () => {
    const format = `{{.Names}} {{.Label "${OWNER_LABEL}"}} {{.Label "${SPEC_LABEL}"}} {{.State}}`;
    const text = await docker.run(["ps", "-a", "--filter", `label=${LOCAL_LABEL}=${id}`, "--format", format]);
    const users = new Map<string, { name: string; spec: string; state: string }>();
    for (const line of text.split("\n")) {
      const [name, owner, spec, state] = line.split(" ");
      if (name && owner) users.set(owner, { name, spec: spec ?? "", state: state ?? "" });
    }
    return users;
  };

  async function ensureUser(m: MailboxEntry): Promise<string> {
    const name = containerName(id, m.owner);
    const own = join(o.dir, m.owner);
    await mkdir(join(own, "host-keys"), { recursive: true, mode: 0o700 });
    // The keys file of earlier versions, mounted as a file (a key change replaced the container).
    await rm(join(own, "authorized_keys"), { force: true });
    const args = userRunArgs(m, o);
    const spec = specOf(m);
    let current = await inspect(name);
    if (current && current.Config.Labels[SPEC_LABEL] !== spec) {
      o.logger.info(
        { owner: m.owner },
        "replacing the user's container (its settings or image changed); the mail and the home (/mail/home) stay",
      );
      await docker.run(["rm", "-f", name]);
      current = undefined;
    }
    if (!current) {
      await docker.run([
        "run",
        "-d",
        "--name",
        name,
        ...label(`${LOCAL_LABEL}=${id}`, `${OWNER_LABEL}=${m.owner}`, `${SPEC_LABEL}=${spec}`),
        ...args,
      ]);
      o.logger.info({ owner: m.owner, container: name }, "user's container made");
    } else if (!current.State.Running) {
      await docker.run(["start", name]);
    }
    await ready(name, "/usr/local/sbin/semail-user-health");
    const ip = (await inspect(name))?.NetworkSettings.Networks[o.network.name]?.IPAddress ?? "";
    addresses.set(m.owner, ip);
    return ip;
  }

  return {
    async startJump() {
      const name = jumpName(id);
      await docker.run(["rm", "-f", name]).catch(() => undefined);
      const hostKeys = join(o.dir, ".jump-host-keys");
      await mkdir(hostKeys, { recursive: true, mode: 0o700 });
      await docker.run([
        "create",
        "--name",
        name,
        "--hostname",
        "semail-jump",
        ...label(`${LOCAL_LABEL}=${id}`),
        "--restart",
        "unless-stopped",
        "--network",
        o.network.jumpNetwork,
        "-p",
        `127.0.0.1:${o.jumpPort}:22`,
        "--mount",
        `type=bind,source=${hostKeys},target=/etc/ssh/keys`,
        "-e",
        `SEMAIL_JUMP_SETUP=${jumpSetupCommand()}`,
        "-e",
        `SEMAIL_JUMP_STANZA=${jumpSshdStanza()}`,
        o.images.jump,
      ]);
      await docker.run(["network", "connect", "--ip", o.network.jumpIp, o.network.name, name]);
      await docker.run(["start", name]);
      await ready(name, "/usr/local/sbin/semail-jump-health");
      written.clear();
    },

    async startAptProxy() {
      const name = aptProxyName(id);
      await docker.run(["rm", "-f", name]).catch(() => undefined);
      const cache = join(o.dir, ".apt-cache");
      await mkdir(cache, { recursive: true, mode: 0o700 });
      await docker.run([
        "create",
        "--name",
        name,
        "--hostname",
        "semail-apt-proxy",
        ...label(`${LOCAL_LABEL}=${id}`),
        "--restart",
        "unless-stopped",
        "--network",
        o.network.aptNetwork,
        "--mount",
        `type=bind,source=${cache},target=/var/cache/apt-cacher-ng`,
        o.images.aptProxy,
      ]);
      await docker.run(["network", "connect", "--ip", o.network.aptIp, o.network.name, name]);
      await docker.run(["start", name]);
      await ready(name, "/usr/local/sbin/semail-apt-proxy-health");
    },

    async sync(list, signal) {
      // One listing of this instance's containers: a mailbox whose container runs with its
      // current settings and keys, and whose address is known, costs no docker command.
      const listed = await listUsers();
      for (const m of list.mailboxes) {
        if (signal?.aborted) throw new Error("stopped before the apply finished");
        await writeKeys(m);
        const found = listed.get(m.owner);
        const upToDate = found?.state === "running" && found.spec === specOf(m) && addresses.has(m.owner);
        const ip = upToDate ? addresses.get(m.owner)! : await ensureUser(m);
        const content = jumpKeysFile(ip, m.sshKeys);
        if (written.get(m.owner) !== content) await writeJumpKeys(m.owner, content);
      }
      for (const [owner, { name }] of listed) {
        if (list.byOwner(owner)) continue;
        await docker.run(["rm", "-f", name]);
        await removeJumpKeys(owner);
        addresses.delete(owner);
        keysWritten.delete(owner);
        o.logger.info({ owner, container: name }, "user's container removed (the mailbox is gone); the mail stays");
      }
    },

    async sshCommand(owner) {
      const ip = addresses.get(owner);
      return ip ? userSshCommand(owner, `127.0.0.1:${o.jumpPort}`, ip) : undefined;
    },

    async stop() {
      const names = (await docker.run(["ps", "-q", "--filter", `label=${LOCAL_LABEL}=${id}`]))
        .split("\n")
        .filter(Boolean);
      if (names.length > 0) await docker.run(["stop", "-t", "5", ...names], { timeoutMs: 60_000 });
    },
  };
}

/**
 * Makes the mail root a shared mount (a bind mount onto itself) when it is not one, as a
 * systemd host's is: Docker's rslave needs it, so a mailbox filesystem mounted later still
 * reaches the container. Returns the undo (after the mailbox filesystems are unmounted).
 */
export async function shareMailRoot(mailRoot: string): Promise<() => Promise<void>> {
  await mkdir(mailRoot, { recursive: true });
  const undo = async () => {
    await exec("umount", ["-l", mailRoot], { timeout: 10_000 });
  };
  const { stdout } = await exec("findmnt", ["-n", "-o", "TARGET,PROPAGATION", "--target", mailRoot], {
    timeout: 10_000,
  });
  const [target, propagation] = stdout.trim().split(/\s+/);
  // Our own bind mount, left by a start that was killed: kept, and undone at this stop.
  if (target === mailRoot && /shared/.test(propagation ?? "")) return undo;
  if (/shared/.test(propagation ?? "")) return async () => undefined;
  await exec("mount", ["--rbind", mailRoot, mailRoot], { timeout: 10_000 });
  await exec("mount", ["--make-rshared", mailRoot], { timeout: 10_000 });
  return undo;
}
