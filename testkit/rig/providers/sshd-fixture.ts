// A real sshd of a test's own on 127.0.0.1: fresh host and user keys in a temp dir, a free
// port, key login for the user running the tests (root is fine). stop() ends it by its pid
// and removes the dir.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { isRoot } from "../../needs-root.ts";

const run = promisify(execFile);
const SSHD = "/usr/sbin/sshd";
/** sshd as root insists on this directory; Debian's ssh service makes it the same way. */
const PRIVSEP_DIR = "/run/sshd";
const START_MS = 10_000;
const STOP_MS = 5_000;
const PORT_TRIES = 5;

export interface TestSshd {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The user's private key (OpenSSH format). */
  readonly privateKey: string;
  /** The server's host key, "ssh-ed25519 AAAA..." (what `connection.hostKey` takes). */
  readonly hostKey: string;
  /** What sshd logged so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Why no test sshd can run here, or undefined when one can (for `skip`). */
export function sshdMissing(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is not installed (apt-get install openssh-server)`;
  if (!existsSync("/usr/bin/ssh")) return "no ssh client (apt-get install openssh-client)";
  if (!isRoot && !existsSync(PRIVSEP_DIR)) return `${PRIVSEP_DIR} is missing and only root may make it`;
  return undefined;
}

/** A new key pair in `dir`/`name` (and `name`.pub). */
export async function makeKey(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const file = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `semail-rig-${name}`, "-f", file], {
    timeout: 10_000,
  });
  return { privateKey: await readFile(file, "utf8"), publicKey: (await readFile(`${file}.pub`, "utf8")).trim() };
}

interface Started {
  readonly stop: () => Promise<void>;
  readonly log: () => string;
}

/** Starts sshd on `port`; resolves when it listens, rejects with its log when it ends first. */
function startOn(config: string, port: number): Promise<Started> {
  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_MS);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => void stop().then(() => reject(new Error(`sshd did not listen within ${START_MS} ms:\n${log}`))),
      START_MS,
    );
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      log += chunk;
      if (log.includes(`Server listening on 127.0.0.1 port ${port}.`)) {
        clearTimeout(timer);
        resolve({ stop, log: () => log });
      }
    });
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`sshd ended at start:\n${log}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export async function startTestSshd(): Promise<TestSshd> {
  const dir = await mkdtemp(join(tmpdir(), "semail-sshd-"));
  try {
    if (!existsSync(PRIVSEP_DIR)) await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    const host = await makeKey(dir, "host_key");
    const user = await makeKey(dir, "user_key");
    await writeFile(join(dir, "authorized_keys"), `${user.publicKey}\n`, { mode: 0o600 });
    for (let tried = 1; ; tried += 1) {
      const port = await freeLoopbackPort();
      const config = join(dir, "sshd_config");
      await writeFile(
        config,
        [
          `ListenAddress 127.0.0.1:${port}`,
          `HostKey ${join(dir, "host_key")}`,
          `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
          "PidFile none",
          "UsePAM no",
          "StrictModes no",
          "PermitRootLogin prohibit-password",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          // The jump-host test goes through this same sshd with `ssh -W`.
          "AllowTcpForwarding yes",
          "",
        ].join("\n"),
      );
      try {
        const started = await startOn(config, port);
        return {
          host: "127.0.0.1",
          port,
          user: userInfo().username,
          privateKey: user.privateKey,
          hostKey: host.publicKey,
          log: started.log,
          async stop() {
            await started.stop();
            await rm(dir, { recursive: true, force: true });
          },
        };
      } catch (error) {
        // Another process took the free port between our look and sshd's bind: try another.
        if (tried >= PORT_TRIES || !String(error).includes("Address already in use")) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
