// Why a move stopped: what is wrong and what to do, in one message for `semail mailbox move`.
// Before the handover the mailbox is still on its source host (the list says so again).
export class MoveError extends Error {
  override readonly name = "MoveError";
}
