// The process logger: JSON lines, passwords redacted. One child per SMTP session or request.
import { pino, type DestinationStream, type Logger } from "pino";

/** The keys pino writes on every line itself. */
const OWN_KEYS = new Set(["level", "time", "pid", "hostname", "name", "msg"]);

/**
 * A logged object's key that pino writes too (slapd's `pid` beside ours) would appear twice
 * in the line, and JSON.parse or jq keep only the last: such a key is written `_key`.
 */
export function withoutOwnKeys(object: Record<string, unknown>): Record<string, unknown> {
  if (!Object.keys(object).some((key) => OWN_KEYS.has(key))) return object;
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [OWN_KEYS.has(key) ? `_${key}` : key, value]));
}

/** Standard output, or `destination` (semail start writes to a file to keep the terminal readable). */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: {
      paths: ["password", "*.password", "pass", "*.pass", "auth.password", "bindPassword", "*.bindPassword"],
      censor: "[redacted]",
    },
    formatters: { log: withoutOwnKeys },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
