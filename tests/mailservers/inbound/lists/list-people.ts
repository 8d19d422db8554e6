// The people the list tests put in groups: in the test slapd, with mailboxes here for all
// but carol, who is on another server.
import type { SlapdUser } from "../../../../deploy/local/slapd.ts";
import type { UserEntry } from "../fixture.ts";

/** The test slapd's people (ou=people). */
export const LIST_PEOPLE: readonly SlapdUser[] = [
  { uid: "alice", password: "alice-Secret1", mail: "alice@semail.test" },
  { uid: "bob", password: "bob-Secret2", mail: "bob@semail.test" },
  // On another server: no mailbox here.
  { uid: "carol", password: "carol-Secret3", mail: "carol@remote.test" },
  { uid: "dave", password: "dave-Secret4", mail: "dave@semail.test" },
];

/** The users list: a mailbox for each person here. */
export const LIST_MAILBOXES: readonly UserEntry[] = [
  { owner: "alice", address: "alice@semail.test" },
  { owner: "bob", address: "bob@semail.test" },
  { owner: "dave", address: "dave@semail.test" },
];
