// The process logger: JSON lines, passwords redacted. One child per SMTP session or request.
import { pino, type DestinationStream, type Logger } from "pino";

/** Standard output, or `destination` (semail start writes to a file to keep the terminal readable). */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: ["password", "*.password", "pass", "*.pass", "auth.password", "bindPassword", "*.bindPassword"], censor: "[redacted]" },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
