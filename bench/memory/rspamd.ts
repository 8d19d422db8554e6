// Rspamd (Debian's package) on loopback, for the spam tests and the memory bench, in a
// directory of its own and stopped by whoever started it (the package's own service is never
// started). Two configurations:
// - "minimal": no modules and no DNS use at all; GTUBE (built into Rspamd: reject) and one
//   rule of ours, SEMAIL_TEST_JUNK (score 8, above add_header's 6), for a Subject holding
//   "[junk-test]". Its DNS server is a loopback port where nothing answers. A few public
//   suffixes instead of the whole list: compiling those 9,600 takes Rspamd 20 s at every start.
// - "debian": /etc/rspamd as the package ships it (what a user who installs it runs), with only
//   its ports, its directories and its DNS server changed (a named of ours that answers only its
//   own zones), so nothing it looks up leaves loopback.
// - "debian-lean": the same without the milter proxy worker, which SEMail does not use (it speaks
//   HTTP to the normal worker).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { accepting, freePort, processTree } from "../lib/process.ts";
import { until } from "../../testkit/until.ts";

export const RSPAMD = "/usr/bin/rspamd";

/** The Subject marker SEMAIL_TEST_JUNK (the "minimal" configuration) scores 8 for. */
export const JUNK_MARKER = "[junk-test]";
/** The GTUBE string, which Rspamd always rejects. */
export const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

export interface RspamdOptions {
  /** Its own directory: configuration, pid, log, databases. */
  readonly dir: string;
  readonly config: "minimal" | "debian" | "debian-lean";
  /** DNS server (IP:PORT) for "debian"; "minimal" gets a loopback port where nothing answers. */
  readonly nameserver?: string;
}

export interface RunningRspamd {
  /** Its normal worker, for inbound.rspamd.url. */
  readonly url: string;
  readonly port: number;
  /** The main process (its workers are its children). */
  readonly pid: number;
  readonly log: string;
  /** SIGTERM, then SIGKILL after 10 s; waits for it to exit. */
  stop(): Promise<void>;
}

const RULES = `-- SEMail's tests: a Subject with ${JUNK_MARKER} scores 8 (add header at 6).
rspamd_config:register_symbol({
  name = 'SEMAIL_TEST_JUNK',
  score = 8.0,
  description = 'SEMail test: junk marker in Subject',
  callback = function(task)
    local subject = task:get_subject()
    if subject and subject:find('${JUNK_MARKER}', 1, true) then
      return true
    end
    return false
  end,
})
`;

function minimalConfig(dir: string, port: number, nameserver: string): string {
  return `# SEMail's tests: no modules, no DNS, no maps fetched.
options {
  pidfile = "${dir}/rspamd.pid";
  filters = "";
  hs_cache_dir = "${dir}/db/";
  tempdir = "${dir}/tmp";
  url_tld = "${dir}/tld.dat";
  control_socket = "${dir}/db/rspamd.sock mode=0600";
  dns {
    nameserver = ["${nameserver}"];
    timeout = 1s;
    retransmits = 1;
  }
}
logging {
  type = "file";
  filename = "${dir}/rspamd.log";
  level = "info";
}
worker "normal" {
  bind_socket = "127.0.0.1:${port}";
  count = 1;
  task_timeout = 8s;
}
actions {
  reject = 15;
  add_header = 6;
  greylist = 4;
}
lua = "${dir}/rules.lua";
`;
}

async function debianOverrides(dir: string, port: number, nameserver: string, lean: boolean): Promise<void> {
  const override = join(dir, "conf", "override.d");
  await mkdir(override, { recursive: true });
  await writeFile(join(override, "worker-normal.inc"), `bind_socket = "127.0.0.1:${port}";\n`);
  await writeFile(join(override, "worker-controller.inc"), `bind_socket = "127.0.0.1:${await freePort()}";\n`);
  await writeFile(
    join(override, "worker-proxy.inc"),
    `bind_socket = "127.0.0.1:${await freePort()}";\n${lean ? "enabled = false;\n" : ""}`,
  );
  await writeFile(join(override, "options.inc"), `dns {\n  nameserver = ["${nameserver}"];\n}\n`);
}

export async function startRspamd(options: RspamdOptions): Promise<RunningRspamd> {
  const { dir } = options;
  for (const sub of ["db", "run", "log", "tmp"]) await mkdir(join(dir, sub), { recursive: true });
  const port = await freePort();
  const nameserver = options.nameserver ?? `127.0.0.1:${await freePort()}`;
  let args: string[];
  let log: string;
  if (options.config === "minimal") {
    await writeFile(join(dir, "rules.lua"), RULES);
    await writeFile(join(dir, "tld.dat"), "com\norg\nnet\ntest\nexample\n");
    await writeFile(join(dir, "rspamd.conf"), minimalConfig(dir, port, nameserver));
    args = ["-c", join(dir, "rspamd.conf")];
    log = join(dir, "rspamd.log");
  } else {
    await debianOverrides(dir, port, nameserver, options.config === "debian-lean");
    args = [
      "-c",
      "/etc/rspamd/rspamd.conf",
      `--var=LOCAL_CONFDIR=${join(dir, "conf")}`,
      `--var=DBDIR=${join(dir, "db")}`,
      `--var=RUNDIR=${join(dir, "run")}`,
      `--var=LOGDIR=${join(dir, "log")}`,
    ];
    log = join(dir, "log", "rspamd.log");
  }
  // As root, its workers would refuse to run as root: -i lets them (tests only, on loopback).
  // Its output to a file, not a pipe: a worker left behind would hold a pipe, and this process, open.
  const output = await open(join(dir, "stderr.log"), "a");
  const child: ChildProcess = spawn(RSPAMD, ["-f", ...(process.getuid?.() === 0 ? ["-i"] : []), ...args], {
    stdio: ["ignore", output.fd, output.fd],
  });
  await output.close();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Its workers, named now: they are killed too if the main process leaves any behind.
    const workers = (await processTree(child.pid ?? 0)).slice(1);
    child.kill("SIGTERM");
    // Rspamd itself waits 16 s for its workers to stop.
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
    for (const pid of workers) {
      const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (command.startsWith("rspamd")) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  try {
    await until(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`rspamd exited (${child.exitCode}); see ${join(dir, "stderr.log")}`);
        return (await accepting(port)) && (await ping(port));
      },
      `rspamd to answer on 127.0.0.1:${port}`,
      60_000,
      100,
    ).catch(async (err: unknown) => {
      const text = await readFile(log, "utf8").catch(() => "");
      throw new Error(`${(err as Error).message}\n${text.slice(-4000)}`);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, port, pid: child.pid ?? 0, log, stop };
}

/** Whether the normal worker answers /ping. */
async function ping(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ping`, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.text()).trim() === "pong";
  } catch {
    return false;
  }
}
