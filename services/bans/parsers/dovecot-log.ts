// Dovecot's login processes (imap-login, pop3-login) log one line when a connection that
// failed to log in ends, with the attempts it made and the client's address:
//   imap-login: Info: Disconnected (auth failed, 3 attempts in 12 secs): user=<bob>, method=PLAIN, rip=192.0.2.7, lip=...
// That line, not the auth process's per-attempt ones, is read: it is there whatever
// auth_verbose says, and counting both would count each attempt twice.
import { failureFrom, type LogParser } from "./failure.ts";

const LOGIN_FAILED = /\b[a-z0-9]+-login: .*\(auth failed, (\d{1,6}) attempts? in \d+ secs?\).*\brip=([0-9A-Fa-f:.]+)/;

export const parseDovecotLine: LogParser = (line) => {
  const match = LOGIN_FAILED.exec(line);
  return match ? failureFrom(match[2], "dovecot auth failed", Math.max(1, Number(match[1]))) : undefined;
};
