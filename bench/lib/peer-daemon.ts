// A peer MTA's daemon (bench/lib/exim.ts, bench/lib/opensmtpd.ts) started in its private
// view with the peer's own libraries, ready once it accepts on its port.
import { accepting } from "./process.ts";
import type { PeerInstance } from "./peer-job.ts";
import { spawnInView, type PrivateView } from "./private-view.ts";
import { until } from "../../testkit/until.ts";

export interface PeerDaemon {
  /** The program, in messages: "exim". */
  readonly program: string;
  /** The peer's name and version, for the bench's tables. */
  readonly name: string;
  /** A fresh temp dir (the view's account files and the output). */
  readonly dir: string;
  readonly view: PrivateView;
  readonly command: string;
  readonly args: readonly string[];
  /** The SMTP port on 127.0.0.1 it was told to listen on. */
  readonly port: number;
  /** The unpacked peer's LD_LIBRARY_PATH. */
  readonly libraryPath: string;
  /** Logs beyond the daemon's own output (a peer that writes log files). */
  readonly logs?: () => Promise<string>;
}

/** Starts the daemon; when it exits or does not listen within 15 s, stops it and throws with its output. */
export async function startPeerDaemon(peer: PeerDaemon): Promise<PeerInstance> {
  const daemon = await spawnInView(peer.dir, peer.view, peer.command, peer.args, {
    ...process.env,
    LD_LIBRARY_PATH: peer.libraryPath,
  });
  await until(
    async () => {
      if (daemon.child.exitCode !== null) throw new Error(`${peer.program} did not start: ${await daemon.output()}`);
      return accepting(peer.port);
    },
    `${peer.program} to listen`,
    15_000,
    50,
  ).catch(async (err: unknown) => {
    await daemon.stop();
    throw err;
  });
  const logs = peer.logs;
  return {
    name: peer.name,
    port: peer.port,
    pid: async () => daemon.child.pid!,
    output: logs ? async () => `${await daemon.output()}\n${await logs()}` : () => daemon.output(),
    stop: () => daemon.stop(),
  };
}
