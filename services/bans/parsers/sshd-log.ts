// OpenSSH's sshd: a failed password (the jump account is a user of the host's sshd, so every
// account's failures count, as fail2ban's sshd filter counts them), a client cut off at
// MaxAuthTries, and a connection that gave up while authenticating. A wrong key writes no
// "Failed publickey" (the server only refuses the key's offer): the last two lines are all a
// key-only account such as the jump account sees of a guesser. A connection that failed
// passwords and then gave up counts its attempts and one more.
// Not read, each repeating a line read already: "Invalid user ..." and "Disconnecting
// authenticating user ...: Too many authentication failures".
import { failureFrom, type LogParser } from "./failure.ts";

// A syslog line ("... sshd[812]: Failed ..."), or the bare message (journalctl -o cat, sshd -e).
const SSHD = String.raw`(?:^|\bsshd(?:-session)?\[\d+\]: )(?:error: )?`;
const ADDRESS = "([0-9A-Fa-f:.]+) port \\d+";
const FAILED = new RegExp(`${SSHD}Failed (\\S+) for (?:invalid user )?.* from ${ADDRESS}`);
const TOO_MANY = new RegExp(`${SSHD}maximum authentication attempts exceeded for .* from ${ADDRESS}`);
const GAVE_UP = new RegExp(`${SSHD}Connection closed by (?:authenticating|invalid) user .* ${ADDRESS} \\[preauth\\]`);

export const parseSshdLine: LogParser = (line) => {
  const failed = FAILED.exec(line);
  if (failed) return failureFrom(failed[2], `ssh ${failed[1]} failed`);
  const tooMany = TOO_MANY.exec(line);
  if (tooMany) return failureFrom(tooMany[1], "ssh attempts limit");
  const gaveUp = GAVE_UP.exec(line);
  return gaveUp ? failureFrom(gaveUp[1], "ssh login abandoned") : undefined;
};
