// The SMTP daemons' lines (mailservers/core: front-end.ts, authenticate.ts): a failed AUTH,
// AUTH refused after too many failures, and the per-address connection limit. The limit on
// all connections ("refused: too many connections") is not the client's doing: not counted.
import { failureFrom, type LogParser } from "./failure.ts";
import { pinoFields } from "./pino-line.ts";

const COUNTED: Readonly<Record<string, string>> = {
  "auth failed": "smtp auth failed",
  "AUTH refused: too many failed logins": "smtp auth limit",
  "refused: too many connections from this address": "smtp connection limit",
};

export const parseSmtpLine: LogParser = (line) => {
  const fields = pinoFields(line);
  const reason = typeof fields?.msg === "string" ? COUNTED[fields.msg] : undefined;
  return reason === undefined ? undefined : failureFrom(fields?.remote, reason);
};
