// The process logger: JSON lines, passwords redacted. One child per SMTP session or request.
import { pino, type Logger } from "pino";

export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    redact: { paths: ["password", "*.password", "pass", "*.pass", "auth.password", "bindPassword", "*.bindPassword"], censor: "[redacted]" },
  });
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
