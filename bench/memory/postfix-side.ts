// Postfix, the reference: one instance that takes both halves of the load, as SEMail's two
// daemons do: the managed domain's mail into mbox files (virtual(8)), everything else
// relayed to the sink. Its memory is summed over all its processes (the master's tree).
import { join } from "node:path";
import { startPostfix, type PostfixInstance } from "../lib/postfix.ts";
import type { Target } from "./load.ts";
import { DOMAIN, type BenchUser, type Service, type Stack } from "./stack.ts";

const VMAIL_UID = 65534; // nobody: virtual(8) refuses to deliver as root

export interface RunningPostfix {
  readonly target: Target;
  readonly service: Service;
  stop(): Promise<void>;
}

export async function startReference(stack: Stack): Promise<RunningPostfix> {
  const dir = join(stack.dir, "postfix");
  const vmail = join(dir, "vmail");
  const postfix: PostfixInstance = await startPostfix(dir, {
    mainCf: [
      `virtual_mailbox_domains = ${DOMAIN}`,
      `virtual_mailbox_base = ${vmail}`,
      `virtual_mailbox_maps = texthash:${join(dir, "etc", "vmailbox")}`,
      `virtual_uid_maps = static:${VMAIL_UID}`,
      `virtual_gid_maps = static:${VMAIL_UID}`,
      "virtual_mailbox_limit = 0",
      "message_size_limit = 0",
      `relayhost = [127.0.0.1]:${stack.sink.port}`,
      "smtp_tls_security_level = none",
      "smtpd_tls_security_level = none",
    ],
    tables: { vmailbox: stack.users.map((u) => `${u.address} ${u.owner}\n`).join("") },
    ownedDirs: [{ path: vmail, uid: VMAIL_UID, gid: VMAIL_UID }],
  });
  return {
    target: {
      inboundPort: postfix.port,
      submissionPort: postfix.port,
      inbox: (user: BenchUser) => join(vmail, user.owner),
    },
    service: { name: "postfix", daemon: false, pid: () => postfix.masterPid() },
    stop: () => postfix.stop(),
  };
}
