// Right after the handover, the owner's IMAP and POP3 sessions on this host's Dovecot are
// closed (`doveadm kick`, as services/imap does for a user removed from its list): a client
// still connected here would otherwise go on writing flags, expunges or APPENDs into the copy
// left behind, where nobody reads them. The kick runs while the mbox files are still held, so
// no session writes between the handover and its end. It reaches the Dovecot whose rendered
// configuration is here (<imap.stateDir>/dovecot.conf: local mode's, a test's); a Dovecot in a
// container (the VM's semail-imap) keeps its sessions until the next deploy drops the user.
import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { imapPaths } from "../imap/config.ts";

/** What became of the owner's sessions here, for the result and the log. */
export type ImapKick = "kicked" | "none connected" | "no Dovecot here" | `failed: ${string}`;

/** doveadm's exit status when no session of the user was found. */
const NO_SUCH_USER = 68;

/** `doveadm -c <stateDir>/dovecot.conf kick <owner>`, bounded; never throws: the move is done. */
export async function kickImapSessions(stateDir: string, owner: string, doveadm = "doveadm"): Promise<ImapKick> {
  const config = imapPaths(stateDir).config;
  if (
    !(await access(config).then(
      () => true,
      () => false,
    ))
  )
    return "no Dovecot here";
  return await new Promise((resolve) => {
    execFile(doveadm, ["-c", config, "kick", owner], { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (!error) resolve("kicked");
      else if (error.code === NO_SUCH_USER) resolve("none connected");
      else
        resolve(
          `failed: ${String(stderr || error.message)
            .trim()
            .slice(0, 300)}`,
        );
    });
  });
}
