// `semail queue list | flush | remove ID`, like mailq / postqueue -f / postsuper -d.
// `list` reads the spool directly. `flush` and `remove` leave a request in the spool's
// control directory for the daemon, which alone touches queued files while it runs;
// with no daemon running, `remove` deletes the files itself.
import { access } from "node:fs/promises";
import { dateOf, QUEUE_ID, replay, runningDaemon, Spool, writeRequest } from "../mailservers/outbound/relay/index.ts";
import { ConfigError } from "../config/settings.ts";
import { formatSize } from "../config/size.ts";
import type { Command } from "./command.ts";

/** The queue as mailq shows it: one block per message, the undelivered recipients with their last reply. */
export async function listQueue(spool: Spool, now = Date.now()): Promise<string> {
  const ids = await spool.ids();
  if (ids.length === 0) return "Mail queue is empty\n";
  const lines = ["-Queue ID-------------- --Size-- ----Arrival Time----------- -Sender/Recipient-------"];
  let bytes = 0;
  let count = 0;
  for (const id of ids) {
    let record;
    try {
      record = await spool.read(id);
    } catch {
      continue; // Removed while we read.
    }
    const { recipients } = replay(record, await spool.journal(id));
    bytes += record.size;
    count++;
    lines.push(
      `${id.padEnd(23)} ${String(record.size).padStart(8)} ${dateOf(record.arrival).padEnd(27)} ${record.from || "MAILER-DAEMON"}`,
    );
    for (const [rcpt, state] of recipients) {
      if (state.status === "delivered") continue;
      const pad = " ".repeat(61);
      if (state.status === "deferred") {
        const wait = Math.max(0, Math.round(((state.next ?? now) - now) / 60_000));
        lines.push(`${pad}(${state.response ?? "deferred"}; attempt ${state.attempts}, next in ${wait} min)`);
      } else if (state.status === "bounced") {
        lines.push(`${pad}(bounced: ${state.response ?? ""})`);
      }
      lines.push(`${pad}${rcpt}`);
    }
    lines.push("");
  }
  lines.push(`-- ${formatSize(bytes)} in ${count} message${count === 1 ? "" : "s"}.`);
  return `${lines.join("\n")}\n`;
}

const queue: Command = {
  name: "queue",
  summary:
    "Inspect and steer the outbound queue: list (like mailq), flush (retry deferred mail now), remove ID (delete a message).",
  usage: "list | flush | remove ID",
  flags: [
    {
      name: "spool",
      setting: "outbound.spool",
      type: "string",
      value: "DIR",
      description: "spool directory of the queue",
    },
  ],
  async run(settings, { positionals }) {
    const [action = "list", ...args] = positionals;
    const spool = new Spool(settings.outbound.spool);
    // Read-only on a missing spool: a typo in --spool must not create a directory.
    try {
      await access(spool.queueDir);
      await access(spool.controlDir);
    } catch {
      throw new ConfigError(
        `no queue in ${spool.dir} (setting outbound.spool): has semail outbound run with this spool?`,
      );
    }
    const daemon = await runningDaemon(spool);
    switch (action) {
      case "list":
        process.stdout.write(await listQueue(spool));
        return;
      case "flush":
        await writeRequest(spool, { kind: "flush" });
        process.stdout.write(
          daemon
            ? `flush requested from semail outbound (pid ${daemon})\n`
            : "semail outbound is not running; the queue is flushed when it starts\n",
        );
        return;
      case "remove": {
        const [id] = args;
        if (id === undefined || args.length !== 1)
          throw new ConfigError("semail queue remove: give one queue id (see semail queue list)");
        if (!QUEUE_ID.test(id))
          throw new ConfigError(
            `semail queue remove: ${JSON.stringify(id)} is not a queue id (8-40 characters A-Z, 0-9)`,
          );
        if (!(await spool.ids()).includes(id)) {
          process.stderr.write(`semail queue remove: ${id}: no such message in ${spool.queueDir}\n`);
          process.exitCode = 1;
          return;
        }
        if (!daemon) {
          await spool.remove(id);
          process.stdout.write(`${id}: removed\n`);
          return;
        }
        await writeRequest(spool, { kind: "remove", id });
        // The daemon finishes an attempt in progress first; wait a bounded while for it.
        for (let i = 0; i < 100; i++) {
          if (!(await spool.ids()).includes(id)) {
            process.stdout.write(`${id}: removed\n`);
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        process.stdout.write(
          `${id}: removal requested; semail outbound (pid ${daemon}) removes it when its delivery attempt ends\n`,
        );
        return;
      }
      default:
        throw new ConfigError(`semail queue: unknown action ${JSON.stringify(action)}: use list, flush or remove ID`);
    }
  },
};

export default queue;
