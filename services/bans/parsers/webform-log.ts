// The web form's login lines (webform/routes-login.ts): a refused login and the login limit.
import { failureFrom, type LogParser } from "./failure.ts";
import { pinoFields } from "./pino-line.ts";

const COUNTED: Readonly<Record<string, string>> = {
  "login refused": "web login failed",
  "login rate-limited": "web login limit",
};

export const parseWebformLine: LogParser = (line) => {
  const fields = pinoFields(line);
  const reason = typeof fields?.msg === "string" ? COUNTED[fields.msg] : undefined;
  return reason === undefined ? undefined : failureFrom(fields?.ip, reason);
};
