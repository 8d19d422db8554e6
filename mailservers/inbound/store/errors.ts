// Why the store could not keep a message, in storage terms. Every part of the store
// (dotlock, mbox files, mailbox roots, the commit, the front door) throws these and none
// chooses an SMTP reply: the inbound backend (mailservers/inbound/store-replies.ts) turns
// each into one.

/** Base of the store's own refusals. */
export class StoreError extends Error {
  override readonly name: string = "StoreError";
}

/** Crash recovery at start failed: the store takes nothing until it is restarted. */
export class StoreUnavailableError extends StoreError {
  override readonly name = "StoreUnavailableError";
}

/** The store was closed (the daemon is stopping): it takes nothing more. */
export class StoreClosedError extends StoreError {
  override readonly name = "StoreClosedError";
  constructor() {
    super("the store is closed");
  }
}

/** Someone else held `<file>.lock` past the bounded wait. */
export class MailboxLockedError extends StoreError {
  override readonly name = "MailboxLockedError";
  readonly file: string;
  readonly waitedMs: number;
  constructor(file: string, waitedMs: number) {
    super(`${file}.lock held by another program for more than ${waitedMs} ms`);
    this.file = file;
    this.waitedMs = waitedMs;
  }
}

/** The mailbox's filesystem is being unmounted, resized or removed (HeldRoots), past the bounded wait. */
export class MailboxHeldError extends StoreError {
  override readonly name = "MailboxHeldError";
  readonly root: string;
  readonly waitedMs: number;
  constructor(root: string, waitedMs: number) {
    super(`mailbox root ${root} was held for its filesystem's maintenance for more than ${waitedMs} ms`);
    this.root = root;
    this.waitedMs = waitedMs;
  }
}

/** The owner's root does not exist yet, or is the empty mount point of an unmounted filesystem. */
export class MailboxNotProvisionedError extends StoreError {
  override readonly name = "MailboxNotProvisionedError";
  readonly root: string;
  constructor(root: string) {
    super(`mailbox root ${root} is not provisioned (missing, or an empty mount point)`);
    this.root = root;
  }
}

/** An owner name that is not valid, or whose root would leave the mail root. */
export class InvalidOwnerError extends StoreError {
  override readonly name = "InvalidOwnerError";
  readonly owner: string;
  constructor(owner: string) {
    super(`owner ${JSON.stringify(owner)} does not name a mailbox root below the mail root`);
    this.owner = owner;
  }
}

/** The owner's root is a symlink or not a directory. */
export class UnsafeMailboxRootError extends StoreError {
  override readonly name = "UnsafeMailboxRootError";
  readonly root: string;
  constructor(root: string) {
    super(`mailbox root ${root} is a symlink or not a directory`);
    this.root = root;
  }
}

/** INBOX is a symlink, a hard link or not a regular file: nothing was written to it. */
export class UnsafeInboxError extends StoreError {
  override readonly name = "UnsafeInboxError";
  readonly file: string;
  constructor(file: string) {
    super(`${file} is not a regular file with a single link`);
    this.file = file;
  }
}

/** Every recipient's mailbox is over its quota. */
export class QuotaExceededError extends StoreError {
  override readonly name = "QuotaExceededError";
}

/** The message could not be put in a temp file before its appends. */
export class BodyBufferError extends StoreError {
  override readonly name = "BodyBufferError";
  constructor(cause: unknown) {
    super("could not write the message to a temp file", { cause });
  }
}

/** An append failed (I/O, fsync); every copy already written was cut out again. */
export class RolledBackError extends StoreError {
  override readonly name = "RolledBackError";
  constructor(cause: unknown) {
    super("an append failed; the message was removed from every file", { cause });
  }
}

/**
 * A message meant to be kept in a file could not be (the write-back after cutting out a
 * neighbour in its batch failed): that file's whole batch was undone.
 */
export class RollbackFailedError extends StoreError {
  override readonly name = "RollbackFailedError";
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super(`could not write back the kept messages of ${file} after a rollback`, { cause });
    this.file = file;
  }
}

/** A message that is in some of its files but not all (a RollbackFailedError elsewhere). */
export class PartiallyStoredError extends StoreError {
  override readonly name = "PartiallyStoredError";
  constructor(causes: readonly unknown[]) {
    super("the message was stored in some mailbox files but not all", { cause: causes[0] });
  }
}

/** The message does not fit on the filesystem of these recipients' mailboxes, both copies: nothing was written. */
export class NoRoomError extends StoreError {
  override readonly name = "NoRoomError";
  readonly recipients: readonly string[];
  readonly shortfalls: readonly { readonly needed: number; readonly available: number }[];
  constructor(
    recipients: readonly string[],
    shortfalls: readonly { readonly needed: number; readonly available: number }[],
  ) {
    super(`no room for the message in the mailbox of ${recipients.join(", ")}`);
    this.recipients = recipients;
    this.shortfalls = shortfalls;
  }
}
