// Child process for crash.test.ts: delivers messages and kills itself with SIGKILL at a
// chosen crash point, leaving what a real kill -9 would leave. Prints "ok <i>" for each
// delivery that resolved (the SMTP 250) before the crash.
// Usage: node crash-child.ts MAIL_ROOT POINT NTH COUNT
import { silentLogger } from "../../../../lib/logger.ts";
import { createMboxStore, type CrashPoint } from "../../../../mailservers/inbound/store/index.ts";
import { makeEnvelope, messageStream, simpleMessage, target } from "./fixture.ts";

const [mailRoot, point, nth, count] = process.argv.slice(2) as [string, CrashPoint, string, string];
let seen = 0;
const store = createMboxStore({
  mailRoot,
  hostname: "mx.semail.test",
  logger: silentLogger(),
  faults: {
    crashAt(at) {
      if (at === point && ++seen === Number(nth)) process.kill(process.pid, "SIGKILL");
    },
  },
});
const targets = [target("bob"), target("carol")];
// Four SMTP-session-like workers, so batches stay small and many follow one another.
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    for (let i = next++; i < Number(count); i = next++) {
      const body = `message ${i} line\n`.repeat(200 + i * 37);
      await store.deliver(
        makeEnvelope(
          `s${i % 4}@example.org`,
          targets.map((x) => x.recipient),
        ),
        targets,
        messageStream(simpleMessage(`crash ${i}`, body), 4096),
      );
      process.stdout.write(`ok ${i}\n`);
    }
  }),
);
process.stdout.write("finished\n");
