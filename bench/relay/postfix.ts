// A private Postfix instance (own config and queue directory in a temp dir) listening on
// 127.0.0.1:PORT and relaying everything to the sink: the reference the outbound daemon
// is measured against. Started and stopped with `postfix -c DIR start|stop`.
import { execFile } from "node:child_process";
import { chown, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PostfixInstance {
  readonly port: number;
  stop(): Promise<void>;
}

/** Services from Debian's master.cf, with smtpd on our port only. */
const MASTER = (port: number) => `127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`;

export async function startPostfix(dir: string, port: number, sinkPort: number, concurrency: number): Promise<PostfixInstance> {
  const etc = join(dir, "etc");
  const queue = join(dir, "queue");
  const data = join(dir, "data");
  for (const d of [etc, queue, data]) await mkdir(d, { recursive: true, mode: 0o755 });
  const { stdout } = await run("id", ["-u", "postfix"]);
  await chown(data, Number(stdout.trim()), -1);
  await writeFile(join(etc, "main.cf"), [
    "compatibility_level = 3.6",
    `queue_directory = ${queue}`,
    `data_directory = ${data}`,
    "mail_owner = postfix",
    "setgid_group = postdrop",
    "myhostname = postfix.bench.test",
    "mydomain = bench.test",
    "myorigin = bench.test",
    "mydestination =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    `relayhost = [127.0.0.1]:${sinkPort}`,
    "smtpd_relay_restrictions = permit_mynetworks, reject",
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${join(dir, "maillog")}`,
    "smtp_tls_security_level = none",
    "smtpd_tls_security_level = none",
    "alias_maps =",
    "alias_database =",
    "local_recipient_maps =",
    `default_destination_concurrency_limit = ${concurrency}`,
    `default_process_limit = ${Math.max(100, concurrency * 2)}`,
    "biff = no",
    "",
  ].join("\n"));
  await writeFile(join(etc, "master.cf"), MASTER(port));
  // Postfix logs its own errors only to syslog unless stderr is a terminal: `script` gives it one.
  const postfix = (action: string) => run("script", ["-qec", `postfix -c ${etc} ${action}`, "/dev/null"]);
  try {
    await postfix("start");
  } catch (err) {
    throw new Error(`postfix did not start: ${(err as { stdout?: string }).stdout ?? (err as Error).message}`);
  }
  return {
    port,
    async stop() {
      await postfix("stop").catch(() => undefined);
    },
  };
}
