// The mbox store: where the inbound daemon puts accepted mail. Each mailbox root is
// <mailRoot>/<owner>/ with INBOX at <root>/INBOX and one folder per (recipient, sender)
// pair at <root>/mail/<folder-name> (Dovecot `mbox:~/mail:INBOX=~/INBOX`, mutt).
//
// The front door takes a delivery through named steps: wait for crash recovery (ready),
// transform the message once to mboxo into memory or a temp file (spool, spool-body.ts),
// plan which files get which copies (plan.ts; mailbox roots: mailbox-root.ts), and commit
// them through per-file group-commit queues (commit.ts, mbox-file.ts). Before the first
// append, each mailbox's filesystem must have room for all its copies (room.ts): a message
// that cannot fit is refused (552) with nothing written, never found out by ENOSPC halfway.
// deliver() resolves only when every copy is fsynced; on any failure every copy already
// written is cut out again before the 451. The parts below throw typed errors (errors.ts);
// only `smtpReply` here turns them into SMTP replies.
//
// Crash safety (kill -9): an append in flight is described by a crash marker written
// before it (crash-markers.ts), named so that a zombie or a reused pid never passes for
// its dead writer (writer.ts); the next start cuts such files back to their recorded
// length and removes the dead process's dotlocks before delivering (recovery.ts), and so
// does a running store before it breaks a stale lock. Until then the dead process's lock
// keeps lock-respecting readers off the file. Messages that were fsynced in some files
// but never acknowledged may stay there (at-least-once); nothing acknowledged is ever
// cut. Power loss: the mbox is fsynced before the reply, but the markers are not, so a
// torn unacknowledged tail is possible after a power cut; the next append then starts on
// a fresh line (mbox-file.ts `separatorAfter`) so it is never glued to it.
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { SmtpError, permFail, tempFail, type Envelope } from "../../core/types.ts";
import { commitAppends } from "./commit.ts";
import { CrashMarkers } from "./crash-markers.ts";
import {
  InvalidOwnerError,
  MailboxLockedError,
  MailboxNotProvisionedError,
  NoRoomError,
  PartiallyStoredError,
  QuotaExceededError,
  RollbackFailedError,
  RolledBackError,
  SpoolError,
  StoreUnavailableError,
  UnsafeInboxError,
  UnsafeMailboxRootError,
} from "./errors.ts";
import type { FaultInjector } from "./faults.ts";
import { MailRoot } from "./mail-root.ts";
import { mailboxRoot, prepareMailboxRoot, provisioningState } from "./mailbox-root.ts";
import { MboxFile, type MboxFileContext } from "./mbox-file.ts";
import { MboxoBody } from "./mboxo.ts";
import { checkQuota, fileAppends, recipientCopies, uniqueTargets, type StoreTarget } from "./plan.ts";
import { spoolBody, type SpooledBody } from "./spool-body.ts";
import { recoverStore, type RecoveryReport } from "./recovery.ts";
import { SpaceReservations, filesystemOf, largestMessage } from "./room.ts";
import { UsageCache } from "./usage.ts";

export type { FaultInjector, CrashPoint } from "./faults.ts";
export { faultError } from "./faults.ts";
export { folderName, parseFolderName, NULL_SENDER, MAX_FOLDER_NAME } from "./folder-name.ts";
export { PROVISIONED_MARKER, provisionPlainRoot } from "./mailbox-root.ts";
export { STRIPPED_HEADERS } from "./mboxo.ts";
export type { StoreTarget } from "./plan.ts";
export type { RecoveryReport } from "./recovery.ts";

export interface MboxStoreOptions {
  /** Directory holding one mailbox root per owner, and the store's private `.tmp/`. */
  mailRoot: string;
  /** Our name in the Received header. */
  hostname: string;
  logger: Logger;
  /** Free bytes the mail root's own filesystem keeps (inbound.minFreeSpace): a mailbox root on it may use only the rest. Default 0. */
  minFreeSpace?: number;
  /** Longest wait for a mailbox's dotlock before 451 4.2.0 (default 20 s). */
  lockTimeoutMs?: number;
  /** Tests only: a dotlock older than this is stale (default 5 minutes). */
  staleLockMs?: number;
  /** Tests only. */
  faults?: FaultInjector;
}

export interface MboxStore {
  /**
   * Whether <mailRoot>/<owner>/ exists. The store never creates it: on the VM it is the
   * owner's own filesystem, mounted there by provisioning (mailbox-fs.sh), which refuses
   * to mount over a directory that already holds mail.
   */
  provisioned(owner: string): Promise<boolean>;
  /** Bytes used under <mailRoot>/<owner>/ (cached; cheap enough for every RCPT). */
  usage(owner: string): Promise<number>;
  /**
   * The largest message (bytes as sent, as SIZE counts them) the owner's mailbox takes now,
   * both copies, within `quota` and on its filesystem; 0 for a root not provisioned.
   */
  largestMessage(owner: string, quota: number): Promise<number>;
  /**
   * Stores `message` for every target; resolves once every copy is fsynced. Throws
   * 552 5.2.2 when every target is over quota or a target's filesystem cannot hold its
   * copies, 451 4.2.0 when a mailbox stays locked,
   * 451 4.2.1 when a mailbox root is not provisioned yet, 451 4.3.0 on an I/O failure
   * (nothing kept anywhere), or the stream's own error.
   */
  deliver(envelope: Envelope, targets: readonly StoreTarget[], message: Readable): Promise<void>;
  /** Waits for deliveries in flight. */
  close(): Promise<void>;
}

/**
 * Crash recovery of a mail root: cuts back appends a dead process left half done and
 * removes its dotlocks. `createMboxStore` runs it at start (deliveries wait for it) and
 * before breaking a stale lock; call it directly to check mailboxes after a kill -9
 * without starting a store.
 */
export async function recoverMailRoot(mailRoot: string, logger: Logger): Promise<RecoveryReport> {
  return recoverStore(path.join(path.resolve(mailRoot), TEMP_DIR), logger);
}

const DEFAULT_LOCK_TIMEOUT_MS = 20_000;
export const TEMP_DIR = ".tmp";

/**
 * The reply for a failed delivery, and the log line it deserves. The only place where
 * the store's errors become SMTP replies; the stream's own SmtpError (a limit the front
 * end enforces) passes through.
 */
export function smtpReply(error: unknown, logger: Logger, id?: string): SmtpError {
  if (error instanceof SmtpError) return error;
  if (error instanceof MailboxLockedError) return tempFail(451, "4.2.0", "Mailbox is locked by another program, try again later");
  if (error instanceof MailboxNotProvisionedError) {
    logger.warn({ root: error.root }, "mailbox root not provisioned (missing, or an empty mount point); refusing for now");
    return tempFail(451, "4.2.1", "Mailbox is being set up, try again later");
  }
  if (error instanceof QuotaExceededError) return permFail(552, "5.2.2", "Mailbox full");
  if (error instanceof NoRoomError) {
    logger.info({ id, recipients: error.recipients, shortfalls: error.shortfalls }, "message does not fit in a mailbox's filesystem");
    return permFail(552, "5.2.2", `Message too big for the mailbox of ${error.recipients.map((r) => `<${r}>`).join(", ")}: it does not have room for it now`);
  }
  if (error instanceof InvalidOwnerError) return tempFail(451, "4.3.0", "Mailbox configuration error");
  if (error instanceof UnsafeMailboxRootError) {
    logger.error({ directory: error.root }, "mailbox root is a symlink or not a directory");
    return tempFail(451, "4.3.0", "Mailbox is misconfigured, contact the postmaster");
  }
  if (error instanceof UnsafeInboxError) return tempFail(451, "4.3.0", "Mailbox is not a regular file, contact the postmaster");
  if (error instanceof StoreUnavailableError) {
    logger.error({ err: error.cause }, "mail store recovery failed");
    return tempFail(451, "4.3.0", "Mail store unavailable, try again later");
  }
  if (error instanceof SpoolError) {
    logger.error({ err: error.cause }, "could not write a temp file");
    return tempFail(451, "4.3.0", "Could not store the message, try again later");
  }
  if (error instanceof PartiallyStoredError) logger.error({ id, err: error.cause }, "a message was stored in some mailbox files but not all");
  if (error instanceof RolledBackError || error instanceof RollbackFailedError || error instanceof PartiallyStoredError) {
    return tempFail(451, "4.3.0", "Could not write the mailbox, try again later");
  }
  logger.error({ err: error, id }, "delivery failed");
  return tempFail(451, "4.3.0", "Could not store the message, try again later");
}

export function createMboxStore(options: MboxStoreOptions): MboxStore {
  const mailRoot = new MailRoot(options.mailRoot);
  const tmpDir = path.join(mailRoot.path, TEMP_DIR);
  const { logger, hostname } = options;
  const markers = new CrashMarkers(tmpDir);
  const logRecovery = (report: RecoveryReport, message: string) => {
    if (report.truncated.length + report.locksRemoved.length + report.unresolved.length > 0) logger.warn(report, message);
    return report;
  };
  const context: MboxFileContext = {
    logger,
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    staleLockMs: options.staleLockMs,
    // A failure here fails the append (451): a lock that may cover a partial tail is not broken.
    recoverDeadWriters: () => void logRecovery(recoverStore(tmpDir, logger), "recovered a dead writer before breaking a stale lock"),
    markers,
    mailRoot,
    faults: options.faults,
    writeAttempts: new Map(),
  };
  const files = new Map<string, MboxFile>();
  const usage = new UsageCache();
  let mailRootDevice: number | undefined;
  const space = new SpaceReservations(() => (mailRootDevice ??= filesystemOf(mailRoot.path).device), options.minFreeSpace ?? 0);
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  let tempSeq = 0;

  const recovered = (async () => {
    await fs.mkdir(markers.dir, { recursive: true, mode: 0o700 });
    return logRecovery(recoverStore(tmpDir, logger), "recovered from a crash");
  })();
  recovered.catch(() => {});

  /** The one MboxFile (group-commit queue) of a path while it has appends. */
  function fileFor(filePath: string): MboxFile {
    let file = files.get(filePath);
    if (!file) {
      const created = new MboxFile(filePath, context);
      created.onIdle = () => {
        if (files.get(filePath) === created && created.idle) files.delete(filePath);
      };
      files.set(filePath, created);
      file = created;
    }
    return file;
  }

  /** Step 1: deliveries wait for crash recovery at start, and refuse if it failed. */
  async function ready(): Promise<void> {
    await recovered.catch((error: unknown) => {
      throw new StoreUnavailableError("crash recovery at start failed", { cause: error });
    });
  }

  /** Step 2: the message, transformed to mboxo once, in memory or a temp file. */
  async function spool(message: Readable, bodyPath: string): Promise<SpooledBody> {
    try {
      return await spoolBody(message, new MboxoBody(), bodyPath);
    } catch (error) {
      // The message broke a limit (SmtpError from the front end) or the client went away.
      if (error instanceof SmtpError || message.errored) throw message.errored ?? error;
      throw new SpoolError(error);
    }
  }

  async function store(envelope: Envelope, targets: readonly StoreTarget[], message: Readable): Promise<void> {
    await ready();
    const copies = recipientCopies(envelope, uniqueTargets(targets), mailRoot, hostname);
    const bodyPath = path.join(tmpDir, `msg-${markers.writer}-${++tempSeq}`);
    let body: SpooledBody | undefined;
    let release: (() => void) | undefined;
    try {
      body = await spool(message, bodyPath);
      // Step 3: plan. Refused only when every mailbox is full; then each root is checked.
      await checkQuota(copies, body.size, usage);
      const appends = await fileAppends(copies, envelope.mailFrom, (root) => prepareMailboxRoot(root, mailRoot, logger));
      // Each filesystem must hold every copy it gets; promised until the commit is over.
      release = space.reserve(appends, body.size, (file) => mailRoot.rootOf(file), (root) => copies.filter((c) => c.root === root).map((c) => c.target.recipient));
      // Step 4: commit, in every file and synced, or in none.
      const stored = await commitAppends(appends, body, fileFor);
      for (const { owner, bytes } of stored) usage.add(owner, bytes);
    } finally {
      release?.();
      if (body?.parts === undefined) await fs.unlink(bodyPath).catch(() => {});
    }
  }

  return {
    async provisioned(owner) {
      try {
        return provisioningState(mailboxRoot(mailRoot, owner)) !== "missing";
      } catch (error) {
        throw smtpReply(error, logger);
      }
    },
    async usage(owner) {
      try {
        return await usage.get(owner, mailboxRoot(mailRoot, owner));
      } catch (error) {
        throw smtpReply(error, logger);
      }
    },
    async largestMessage(owner, quota) {
      try {
        const root = mailboxRoot(mailRoot, owner);
        const state = provisioningState(root);
        if (state === "unsafe") throw new UnsafeMailboxRootError(root);
        if (state === "missing") return 0;
        const used = await usage.get(owner, root);
        const disk = filesystemOf(root);
        // A large message waits in a temp file under the mail root: a third copy where they share a filesystem.
        return largestMessage(quota - used, space.available(disk), space.sharesMailRoot(disk) ? 3 : 2, disk.blockSize);
      } catch (error) {
        throw smtpReply(error, logger);
      }
    },
    async deliver(envelope, targets, message) {
      if (closed) throw tempFail(421, "4.3.2", "Service shutting down");
      const delivery = store(envelope, targets, message).catch((error: unknown) => {
        // Refused before reading it all: drain the rest so the SMTP side can reply.
        if (!message.readableEnded && !message.destroyed) message.resume();
        throw smtpReply(error, logger, envelope.id);
      });
      inFlight.add(delivery);
      try {
        await delivery;
      } finally {
        inFlight.delete(delivery);
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
      await markers.retire();
    },
  };
}
