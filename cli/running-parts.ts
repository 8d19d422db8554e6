// The parts `semail start` runs, stopped in the reverse order of their start, each one said
// on the terminal: the log goes to a file, so after Ctrl-C the terminal is all a user sees.
import type { Logger } from "pino";

export class RunningParts {
  readonly #parts: Array<{ readonly name: string; readonly stop: () => Promise<void> }> = [];
  readonly #say: (line: string) => void;
  readonly #logger: Logger;

  constructor(say: (line: string) => void, logger: Logger) {
    this.#say = say;
    this.#logger = logger;
  }

  /** `name` completes "stopped …" on the terminal, e.g. "slapd (LDAP on 127.0.0.1:3389)". */
  add(name: string, stop: () => Promise<void>): void {
    this.#parts.push({ name, stop });
  }

  /** Says `heading`, then stops every part, the last started first; one that fails to stop does not keep the others running. */
  async stopAll(heading: string): Promise<void> {
    if (this.#parts.length > 0) this.#say(heading);
    for (const { name, stop } of this.#parts.splice(0).reverse()) {
      try {
        await stop();
        this.#say(`  stopped ${name}`);
        this.#logger.info({ stopped: name }, "part stopped");
      } catch (err) {
        this.#say(`  could not stop ${name}: ${(err as Error).message}`);
        this.#logger.error({ stopping: name, err: (err as Error).message }, "error while stopping");
      }
    }
  }
}
