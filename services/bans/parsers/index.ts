// One parser per part whose log is followed, by the name a `bans.sources` entry gives.
import type { BanParserName } from "../../../config/sections/bans.ts";
import { parseDovecotLine } from "./dovecot-log.ts";
import type { LogParser } from "./failure.ts";
import { parseSmtpLine } from "./smtp-log.ts";
import { parseSshdLine } from "./sshd-log.ts";
import { parseWebformLine } from "./webform-log.ts";

export type { Failure, LogParser } from "./failure.ts";

export const LOG_PARSERS: Readonly<Record<BanParserName, LogParser>> = {
  smtp: parseSmtpLine,
  webform: parseWebformLine,
  dovecot: parseDovecotLine,
  sshd: parseSshdLine,
};
