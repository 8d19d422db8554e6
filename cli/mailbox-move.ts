// `semail mailbox move ID --to HOST [--wait 60s] [--remove-source]`: moves a mailbox from this
// host to another SEMail host of the settings (services/move), mail arriving all along: it waits
// with its senders (451) only between the switch and the handover. Exits 1 when the move failed,
// saying where the mailbox is; every step is logged (on stderr) as it happens.
import { ConfigError } from "../config/settings.ts";
import { parseDuration } from "../config/sections/common.ts";
import { createLogger } from "../lib/logger.ts";
import { MoveError, PlaceError, moveMailbox, type MoveResult } from "../services/move/index.ts";
import type { Command } from "./command.ts";

const DEFAULT_WAIT = "60s";

const mailboxMove: Command = {
  name: "mailbox",
  summary:
    "Move a mailbox to another SEMail host (the setting hosts): copied while mail arrives, then switched with no message lost or stored twice.",
  usage: "move ID --to HOST",
  flags: [
    { name: "to", type: "string", value: "HOST", description: "the host to move it to: a name in the setting hosts" },
    {
      name: "wait",
      type: "string",
      value: "DURATION",
      description: `how long the inbound daemon here may take to let go of the mailbox (default ${DEFAULT_WAIT})`,
    },
    {
      name: "remove-source",
      type: "boolean",
      description: "delete the mail here once the target has it (default: kept until the program removes it)",
    },
    { name: "json", type: "boolean", description: "print the result as JSON" },
  ],
  async run(settings, { positionals, flags }) {
    const [action, id, ...rest] = positionals;
    if (action !== "move")
      throw new ConfigError(
        `${action === undefined ? "say what to do" : `unknown action ${JSON.stringify(action)}`}: semail mailbox move ID --to HOST`,
      );
    if (id === undefined) throw new ConfigError("move: name the mailbox (ID): its owner (LDAP uid) or its address");
    if (rest.length > 0) throw new ConfigError(`move: unexpected ${rest.join(" ")}: one mailbox at a time`);
    if (typeof flags.to !== "string" || flags.to === "")
      throw new ConfigError("--to: name the host to move the mailbox to (one of the setting hosts)");
    const wait = typeof flags.wait === "string" ? flags.wait : DEFAULT_WAIT;
    const waitMs = parseDuration(wait);
    if (waitMs === undefined || waitMs === 0)
      throw new ConfigError(`--wait ${JSON.stringify(wait)} is not a duration: write e.g. 60s or 5m`);
    // Steps go to stderr as they happen; the result alone to stdout.
    const logger = createLogger(settings.log.level, "semail-mailbox-move", process.stderr);
    // Ctrl-C before the handover puts everything back rather than leave the mailbox held (451).
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      logger.warn({ signal }, "stopping: the move is undone unless its handover has begun");
      stop.abort();
    };
    process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
    let result: MoveResult;
    try {
      result = await moveMailbox(
        settings,
        { id, to: flags.to, waitMs, removeSource: flags["remove-source"] === true },
        { logger, signal: stop.signal },
      );
    } catch (error) {
      if (!(error instanceof MoveError || error instanceof PlaceError)) throw error;
      process.stderr.write(`semail mailbox move: ${error.message}\n`);
      process.exitCode = 1;
      return;
    } finally {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    }
    process.stdout.write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : moveText(result));
  },
};

/** The result for a person: where the mailbox is, how big, and how long it waited. */
export function moveText(r: MoveResult): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    `moved ${r.owner} (${r.address}) from host ${r.from} to host ${r.to}: ${r.files} files, ${r.bytes} bytes, every one compared`,
    `  first copy ${seconds(r.firstCopyMs)}; held (451) ${seconds(r.heldMs)}: waiting for the daemon ${seconds(r.waitMs)}, final copy ${seconds(r.finalCopyMs)}, check ${seconds(r.verifyMs)}; in all ${seconds(r.totalMs)}`,
    r.sourceRemoved
      ? `  the mail on host ${r.from} is removed`
      : `  the mail on host ${r.from} is kept (--remove-source deletes it)`,
    ...(r.provisioned ? [`  its filesystem on host ${r.to} was made (or found made) by mailbox-fs.sh`] : []),
    `  IMAP sessions on host ${r.from}: ${r.imap}`,
    "",
  ].join("\n");
}

export default mailboxMove;
