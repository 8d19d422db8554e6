// How `semail queue` talks to a running daemon: request files in <spool>/control/
// ("flush", "remove.<id>"), written atomically by the CLI and consumed by the daemon,
// which watches the directory (and polls it, in case a watch event is missed). Only the
// daemon touches the queue files while it runs, so a removal never races a delivery.
// A request left while the daemon is down is carried out when it starts.
// <spool>/outbound.pid says which process owns the spool.
import { watch, type FSWatcher } from "node:fs";
import { open, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { writeFileAtomic } from "../../../../lib/durable-file.ts";
import { processAlive } from "../../../../lib/process-alive.ts";
import { QUEUE_ID, type Spool } from "../spool/spool.ts";

export type ControlRequest = { readonly kind: "flush" } | { readonly kind: "remove"; readonly id: string };

function fileName(request: ControlRequest): string {
  if (request.kind === "flush") return "flush";
  if (!QUEUE_ID.test(request.id)) throw new Error(`${JSON.stringify(request.id)} is not a queue id`);
  return `remove.${request.id}`;
}

function parse(name: string): ControlRequest | undefined {
  if (name === "flush") return { kind: "flush" };
  const id = /^remove\.(.+)$/.exec(name)?.[1];
  return id !== undefined && QUEUE_ID.test(id) ? { kind: "remove", id } : undefined;
}

export async function writeRequest(spool: Spool, request: ControlRequest): Promise<void> {
  await writeFileAtomic(join(spool.controlDir, fileName(request)), `${new Date().toISOString()}\n`, 0o600);
}

export interface ControlWatch {
  /** Handles pending requests now. */
  poll(): Promise<void>;
  close(): void;
}

/** Consumes requests as they appear: each file is deleted, then handled. */
export function watchRequests(
  spool: Spool,
  handle: (request: ControlRequest) => Promise<void>,
  logger: Logger,
  pollMs = 1000,
): ControlWatch {
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  const once = async (): Promise<void> => {
    for (const name of await readdir(spool.controlDir)) {
      if (name.startsWith(".")) continue;
      const request = parse(name);
      await rm(join(spool.controlDir, name), { force: true });
      if (!request) {
        logger.warn({ file: name }, "ignored unknown control file");
        continue;
      }
      logger.info({ request }, "queue control request");
      await handle(request).catch((err: unknown) =>
        logger.error({ request, err: (err as Error).message }, "control request failed"),
      );
    }
  };
  const poll = async (): Promise<void> => {
    if (closed) return;
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await once().catch((err: unknown) =>
          logger.error({ err: (err as Error).message }, "cannot read control directory"),
        );
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(spool.controlDir, () => void poll());
    watcher.on("error", () => undefined);
  } catch {
    watcher = undefined;
  }
  const timer = setInterval(() => void poll(), pollMs);
  timer.unref();
  return {
    poll,
    close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}

const pidFile = (spool: Spool) => join(spool.dir, "outbound.pid");

/** The pid of the daemon that owns the spool, if it is running. */
export async function runningDaemon(spool: Spool): Promise<number | undefined> {
  const text = await readFile(pidFile(spool), "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
}

/** Claims the spool for this process; refuses while another live daemon holds it. */
export async function claimSpool(spool: Spool): Promise<() => Promise<void>> {
  const other = await runningDaemon(spool);
  if (other !== undefined && other !== process.pid) {
    throw new Error(`spool ${spool.dir} is in use by another semail outbound (pid ${other})`);
  }
  const file = await open(pidFile(spool), "w", 0o644);
  await file.writeFile(`${process.pid}\n`);
  await file.close();
  return async () => {
    const text = await readFile(pidFile(spool), "utf8").catch(() => "");
    if (Number(text.trim()) === process.pid) await rm(pidFile(spool), { force: true });
  };
}
