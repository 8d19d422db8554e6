// Moving a mailbox to another SEMail host (`semail mailbox move`): rsync's copies around the
// switch of the users lists, the daemons' 451 while it lasts, and a byte-for-byte check.
export { moveMailbox, type MoveDependencies, type MoveRequest, type MoveResult } from "./move.ts";
export { MoveError } from "./move-error.ts";
export { PlaceError } from "./place.ts";
