// The mbox store, as the rest of the tree sees it: the front door (mbox-store.ts), the
// errors it rejects with (errors.ts), and what tests and readers of the mboxes share.
// Inside: mbox/ is what the files hold (the mboxo format, folder names); append/ writes
// one file safely (dotlock, group commit, rollback, crash markers and recovery); roots/
// is where the mailboxes are (the user-owned tree, each mailbox root, usage, room).
export {
  createMboxStore,
  recoverMailRoot,
  TEMP_DIR,
  type DeliverOptions,
  type MboxStore,
  type MboxStoreOptions,
} from "./mbox-store.ts";
export {
  InvalidOwnerError,
  MailboxHeldError,
  MailboxLockedError,
  MailboxNotProvisionedError,
  NoRoomError,
  PartiallyStoredError,
  QuotaExceededError,
  RollbackFailedError,
  RolledBackError,
  BodyBufferError,
  StoreClosedError,
  StoreError,
  StoreUnavailableError,
  UnsafeInboxError,
  UnsafeMailboxRootError,
} from "./errors.ts";
export type { FaultInjector, CrashPoint } from "./faults.ts";
export { faultError } from "./faults.ts";
export { folderName, parseFolderName, JUNK_FOLDER, NULL_SENDER, MAX_FOLDER_NAME } from "./mbox/folder-name.ts";
export { STRIPPED_HEADERS } from "./mbox/mboxo.ts";
export type { StoreTarget } from "./plan.ts";
export type { RecoveryReport } from "./append/recovery.ts";
