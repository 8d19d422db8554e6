// `semail bans run | list | unban ADDR`: automatic bans (services/bans). `run` is the watcher
// (a long-running service, as root: it writes firewall rules); `list` prints the bans in force
// from bans.json; `unban` lifts one at once, whether the watcher runs or not.
import { ConfigError, type Settings } from "../config/settings.ts";
import { systemClock } from "../lib/clock.ts";
import { createLogger } from "../lib/logger.ts";
import { iptablesFirewall } from "../services/bans/firewall.ts";
import { banAddress, currentBans, liftBan } from "../services/bans/operator.ts";
import { startBanWatcher } from "../services/bans/watcher.ts";
import type { Command } from "./command.ts";
import { untilStopSignal } from "./signals.ts";

const firewallOf = (settings: Settings, warn?: (message: string) => void) =>
  iptablesFirewall({ chain: settings.bans.chain, hookFrom: settings.bans.hookFrom, ...(warn ? { warn } : {}) });

const bans: Command = {
  name: "bans",
  summary:
    "Ban addresses that keep failing logins or hitting limits (firewall rules for a growing time): run the watcher, list the bans, or lift one.",
  usage: "run | list | unban ADDR",
  flags: [{ name: "json", type: "boolean", description: "list: print the bans as JSON" }],
  async run(settings, { positionals, flags }) {
    const [action, ...rest] = positionals;
    if (action === "run" && rest.length === 0) {
      if (settings.bans.sources.length === 0)
        throw new ConfigError("bans.sources: name at least one log to follow (parser and command)");
      const logger = createLogger(settings.log.level, "semail-bans");
      const watcher = await startBanWatcher({
        settings: settings.bans,
        firewall: firewallOf(settings, (message) => logger.warn(message)),
        clock: systemClock,
        logger,
      });
      await untilStopSignal(logger);
      await watcher.stop();
      return;
    }
    if (action === "list" && rest.length === 0) {
      const entries = await currentBans(settings.bans.stateDir, Date.now());
      if (flags.json === true) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      else if (entries.length === 0) process.stdout.write("no bans\n");
      else
        for (const e of entries)
          process.stdout.write(
            `${e.address}\tuntil ${new Date(e.until).toISOString()}\tban ${e.offences}\t${e.reason}\n`,
          );
      return;
    }
    if (action === "unban" && rest.length === 1) {
      let address: string;
      try {
        address = banAddress(rest[0]!);
      } catch (err) {
        throw new ConfigError(`unban: ${(err as Error).message}`);
      }
      const had = await liftBan(settings.bans.stateDir, firewallOf(settings), address);
      process.stdout.write(had ? `${address}: ban lifted\n` : `${address} was not banned (any rule for it removed)\n`);
      return;
    }
    throw new ConfigError(`expected run, list or unban ADDR, not ${JSON.stringify(positionals.join(" "))}`);
  },
};

export default bans;
