// The SMTP reply for each way the store can fail, and the log line it deserves: the one
// place where the store's typed errors (store/errors.ts) become replies. Used by the
// inbound backend only; the store itself never speaks SMTP.
import type { Logger } from "pino";
import { SmtpError, permFail, tempFail } from "../core/types.ts";
import {
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
  StoreUnavailableError,
  UnsafeInboxError,
  UnsafeMailboxRootError,
} from "./store/index.ts";

/** Errors of a write that ran out of room (append/batch-writer.ts calls a short write ESHORTWRITE). */
const FULL_FILESYSTEM_CODES = new Set(["ENOSPC", "EDQUOT", "ESHORTWRITE"]);

function filesystemFull(cause: unknown): boolean {
  return FULL_FILESYSTEM_CODES.has((cause as NodeJS.ErrnoException | undefined)?.code ?? "");
}

/**
 * The reply for a failed store call (`id`: the message's, when delivering). The stream's
 * own SmtpError (a limit the front end enforces) passes through; anything unknown is
 * logged and 451 4.3.0.
 */
export function storeReply(error: unknown, logger: Logger, id?: string): SmtpError {
  if (error instanceof SmtpError) return error;
  if (error instanceof StoreClosedError) return tempFail(421, "4.3.2", "Service shutting down");
  if (error instanceof MailboxLockedError)
    return tempFail(451, "4.2.0", "Mailbox is locked by another program, try again later");
  if (error instanceof MailboxHeldError) return tempFail(451, "4.2.0", "Mailbox is under maintenance, try again later");
  if (error instanceof MailboxNotProvisionedError) {
    logger.warn(
      { root: error.root },
      "mailbox root not provisioned (missing, or an empty mount point); refusing for now",
    );
    return tempFail(451, "4.2.1", "Mailbox is being set up, try again later");
  }
  if (error instanceof QuotaExceededError) return permFail(552, "5.2.2", "Mailbox full");
  if (error instanceof NoRoomError) {
    logger.info(
      { id, recipients: error.recipients, shortfalls: error.shortfalls },
      "message does not fit in a mailbox's filesystem",
    );
    return permFail(
      552,
      "5.2.2",
      `Message too big for the mailbox of ${error.recipients.map((r) => `<${r}>`).join(", ")}: it does not have room for it now`,
    );
  }
  if (error instanceof InvalidOwnerError) return tempFail(451, "4.3.0", "Mailbox configuration error");
  if (error instanceof UnsafeMailboxRootError) {
    logger.error({ directory: error.root }, "mailbox root is a symlink or not a directory");
    return tempFail(451, "4.3.0", "Mailbox is misconfigured, contact the postmaster");
  }
  if (error instanceof UnsafeInboxError)
    return tempFail(451, "4.3.0", "Mailbox is not a regular file, contact the postmaster");
  if (error instanceof StoreUnavailableError) {
    logger.error({ err: error.cause }, "mail store recovery failed");
    return tempFail(451, "4.3.0", "Mail store unavailable, try again later");
  }
  if (error instanceof BodyBufferError) {
    logger.error({ err: error.cause }, "could not write a temp file");
    return tempFail(451, "4.3.0", "Could not store the message, try again later");
  }
  if (error instanceof PartiallyStoredError)
    logger.error({ id, err: error.cause }, "a message was stored in some mailbox files but not all");
  // The mailbox's own filesystem filled between the room check and the write (another program
  // wrote to it): the same temporary "mailbox full" as at RCPT, not a local error.
  if (error instanceof RolledBackError && filesystemFull(error.cause))
    return tempFail(452, "4.2.2", "Mailbox full, try again later");
  if (
    error instanceof RolledBackError ||
    error instanceof RollbackFailedError ||
    error instanceof PartiallyStoredError
  ) {
    return tempFail(451, "4.3.0", "Could not write the mailbox, try again later");
  }
  logger.error({ err: error, id }, "delivery failed");
  return tempFail(451, "4.3.0", "Could not store the message, try again later");
}
