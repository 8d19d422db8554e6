// Synthetic users lists for benchmarks: `count` mailboxes that pass the users list's own
// rules (config/users-list.ts), shaped as a real list would be: most owners on a subdomain
// of the managed domain (the web form's default), one in ten on a domain of their own, each
// with an SSH key, a few with a size of their own.
import { stringify } from "yaml";
import { parseSize } from "../../config/size.ts";
import type { UsersListOptions } from "../../config/users-list.ts";

export const BENCH_DOMAIN = "semail.bench";

export const BENCH_LIST_OPTIONS: UsersListOptions = {
  managedDomain: BENCH_DOMAIN,
  defaultSize: parseSize("5GiB")!,
  minSize: parseSize("16MiB")!,
};

/** An ed25519 public key line whose blob is well formed (type header and 32 key bytes), distinct per `i`. */
function sshKey(i: number): string {
  const type = Buffer.from("ssh-ed25519");
  const key = Buffer.alloc(32, 0);
  key.writeUInt32BE(i, 0);
  const blob = Buffer.concat([Buffer.alloc(4), type, Buffer.alloc(4), key]);
  blob.writeUInt32BE(type.length, 0);
  blob.writeUInt32BE(key.length, 4 + type.length);
  return `ssh-ed25519 ${blob.toString("base64")} user${i}@laptop`;
}

/** The `i`th mailbox as the file holds it. */
export function syntheticMailbox(i: number): Record<string, unknown> {
  const owner = `user${i}`;
  const domain = i % 10 === 9 ? `home${i}.example.org` : `${owner}.${BENCH_DOMAIN}`;
  return {
    owner,
    address: `${owner}@${domain}`,
    ...(i % 7 === 3 ? { size: "1GiB" } : {}),
    sshKeys: [sshKey(i)],
  };
}

/** The YAML text of a list with mailboxes 0..count-1, as the web form writes it. */
export function syntheticUsersYaml(count: number): string {
  return stringify({ mailboxes: Array.from({ length: count }, (_, i) => syntheticMailbox(i)) });
}
