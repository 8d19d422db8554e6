// `semail outbound` as a real child process (node bin/semail.mjs), for kill -9 and CLI tests.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import type { TestSlapd } from "../../helpers/slapd.ts";
import { APEX, type World } from "./relay/delivery/fixture.ts";
import { until } from "../../../testkit/until.ts";

export const NODE = join(process.cwd(), "node_modules/.bin/node");
export const SEMAIL = join(process.cwd(), "bin/semail.mjs");

export interface ChildDaemon {
  readonly child: ChildProcess;
  /** Everything it printed (pino JSON lines), for failure messages. */
  output(): string;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<string>;
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Writes the users list (alice@plain.APEX) and the settings of a child daemon on `port`
 * that authenticates at `slapd` and delivers into `world`; returns the settings file.
 * `outbound` and `delivery` add to or override those sections.
 */
export async function writeChildConfig(
  dir: string,
  slapd: TestSlapd,
  world: World,
  port: number,
  outbound: Record<string, unknown> = {},
  delivery: Record<string, unknown> = {},
): Promise<string> {
  await writeFile(join(dir, "users.yaml"), `mailboxes:\n  - {owner: alice, address: alice@plain.${APEX}}\n`);
  const config = join(dir, "semail.yaml");
  await writeFile(
    config,
    stringify({
      hostname: "relay.semail.test",
      users: join(dir, "users.yaml"),
      log: { level: "info" },
      ldap: {
        url: slapd.url,
        baseDn: slapd.baseDn,
        userDnTemplate: slapd.userDnTemplate,
        adminGroupDn: slapd.adminGroupDn,
        timeoutMs: 3000,
      },
      outbound: {
        listen: [`127.0.0.1:${port}`],
        spool: join(dir, "spool"),
        ...outbound,
        delivery: {
          resolver: world.named.server,
          smtpPort: world.port,
          localAddresses: ["127.0.0.11"],
          connectTimeout: "2s",
          ...delivery,
        },
      },
    }),
  );
  return config;
}

/**
 * Starts the daemon with `--config file` and waits (bounded) until it accepts connections
 * on `port`. `node` replaces node's arguments before the command (default: the sources).
 */
export async function startChild(
  config: string,
  port: number,
  node: readonly string[] = [SEMAIL],
): Promise<ChildDaemon> {
  const child = spawn(NODE, [...node, "outbound", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output = (output + d).slice(-20_000)));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output = (output + d).slice(-20_000)));
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? String(code))),
  );
  let done = false;
  void exited.then(() => (done = true));
  await until(
    async () => {
      if (done) throw new Error(`semail outbound exited at start:\n${output}`);
      return accepting(port);
    },
    () => `semail outbound to listen on ${port}:\n${output}`,
    15_000,
    50,
  ).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw err;
  });
  return { child, output: () => output, exited };
}
