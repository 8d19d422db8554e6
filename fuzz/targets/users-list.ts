// The users list (config/users-list.ts): YAML the web form writes and operators edit. Properties of
// a list the parser accepts:
// - written back (serializeUsersList, what the web form writes), it parses to the same entries;
// - every live mailbox is found by its address in any ASCII case, and by its owner; a pending one
//   is not served; every SSH key kept is accepted again as it was kept.
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { sshKeyProblem } from "../../config/ssh-key.ts";
import {
  parseUsersList,
  serializeUsersList,
  type UsersList,
  UsersListError,
  type UsersListOptions,
} from "../../config/users-list.ts";
import { Input } from "../input.ts";

const OPTIONS: UsersListOptions = { managedDomain: "semail.test", defaultSize: 5 * 1024 ** 3, minSize: 1024 };
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

function load(text: string): UsersList | undefined {
  try {
    return parseUsersList(text, OPTIONS);
  } catch (err) {
    if (err instanceof UsersListError) return undefined;
    throw err;
  }
}

/** A field: a typical value, or one the fuzzer makes. */
function field(input: Input, typical: readonly unknown[]): unknown {
  return input.int(3) === 0 ? input.string(40) : input.pick(typical);
}

function structured(input: Input): string {
  const mailboxes = Array.from({ length: input.int(3) }, () => {
    const entry: Record<string, unknown> = {
      owner: field(input, ["alice", "bob", "a.b-c_d", "0"]),
      address: field(input, ["alice@alice.semail.test", "Bob@Example.ORG.", "x@semail.test", "a@b.example"]),
    };
    if (input.bool()) entry.size = field(input, ["5GiB", 1024, "1.5 KiB", "512MiB", 2 ** 40]);
    if (input.bool()) entry.sshKeys = [field(input, [KEY, `${KEY} me@laptop`, `  ${KEY}   x  y `])];
    if (input.bool()) entry.pendingProof = field(input, ["0123456789abcdef", "zzzzzzzzzzzzzzzzzzzz"]);
    return entry;
  });
  return stringify({ mailboxes });
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const text = input.bool() ? input.rest().toString("utf8") : structured(input);
  const list = load(text);
  if (list === undefined) return;
  const written = serializeUsersList(list.entries);
  const again = load(written);
  assert.ok(again, `the list written back is refused:\n${written}`);
  assert.deepEqual(again.entries, list.entries, "the list written back means the same");
  for (const m of list.entries) {
    assert.equal(list.byOwner(m.owner), m);
    const upper = m.address.replace(/[a-z]/g, (c) => c.toUpperCase());
    assert.equal(list.byAddress(upper), m.pendingProof === undefined ? m : undefined, "found by address");
    if (m.pendingProof === undefined) assert.ok(list.hasDomain(m.domain.toUpperCase()), "its domain is served");
    for (const key of m.sshKeys) assert.equal(sshKeyProblem(key), undefined, "a kept key is accepted again");
  }
}
