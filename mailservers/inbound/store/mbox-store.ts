// The mbox store: where the inbound daemon puts accepted mail. Each mailbox root is
// <mailRoot>/<owner>/ with INBOX at <root>/INBOX and one folder per (recipient, sender)
// pair at <root>/mail/<folder-name> (Dovecot `mbox:~/mail:INBOX=~/INBOX`, mutt).
//
// The front door takes a delivery through named steps: wait for crash recovery (ready),
// transform the message once to mboxo into memory or a temp file (body-buffer.ts),
// plan which files get which copies (plan.ts; mailbox roots: roots/mailbox-root.ts), and
// commit them through per-file group-commit queues (commit.ts, append/mbox-file.ts). Before
// the first append, each mailbox's filesystem must have room for all its copies
// (roots/room.ts): a message that cannot fit is refused (NoRoomError) with nothing written,
// never found out by ENOSPC halfway. deliver() resolves only when every copy is fsynced; on
// any failure every copy already written is cut out again before it rejects. Every refusal
// is a typed error in storage terms (errors.ts); the inbound backend turns them into SMTP
// replies, the store never does.
//
// Crash safety (kill -9): an append in flight is described by a crash marker written
// before it (append/crash-markers.ts), named so that a zombie or a reused pid never passes
// for its dead writer (append/writer-identity.ts); the next start cuts such files back to
// their recorded length and removes the dead process's dotlocks before delivering
// (append/recovery.ts), and so does a running store before it breaks a stale lock. Until
// then the dead process's lock keeps lock-respecting readers off the file. Messages that were fsynced in some files
// but never acknowledged may stay there (at-least-once); nothing acknowledged is ever
// cut. Power loss: the mbox is fsynced before the reply, but the markers are not, so a
// torn unacknowledged tail is possible after a power cut; the next append then starts on
// a fresh line (append/batch-writer.ts `separatorAfter`) so it is never glued to it.
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { Envelope } from "../../core/types.ts";
import { provisioningState } from "../../../config/mailbox-layout.ts";
import { CrashMarkers } from "./append/crash-markers.ts";
import { FailureLog } from "./append/failure-log.ts";
import { MboxFile, type MboxFileContext } from "./append/mbox-file.ts";
import { recoverStore, type RecoveryReport } from "./append/recovery.ts";
import { commitAppends } from "./commit.ts";
import { BodyBufferError, StoreClosedError, StoreUnavailableError, UnsafeMailboxRootError } from "./errors.ts";
import type { FaultInjector } from "./faults.ts";
import { MboxoBody } from "./mbox/mboxo.ts";
import { checkQuota, fileAppends, recipientCopies, uniqueTargets, type StoreTarget } from "./plan.ts";
import { HeldRoots } from "./roots/held-roots.ts";
import { mailboxRoot, prepareMailboxRoot } from "./roots/mailbox-root.ts";
import { SpaceReservations, filesystemOf, largestMessage } from "./roots/room.ts";
import { UsageCache } from "./roots/usage.ts";
import { UserOwnedTree } from "./roots/user-owned-tree.ts";
import { bufferBody, type BufferedBody } from "./body-buffer.ts";

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

/** How one message is delivered, as the backend judged it. */
export interface DeliverOptions {
  /** Into each mailbox's Junk folder (<root>/mail/Junk), instead of INBOX and the pair folder. */
  readonly junk?: boolean;
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
   * Stores `message` for every target; resolves once every copy is fsynced. Rejects with
   * QuotaExceededError when every target is over quota, NoRoomError when a target's
   * filesystem cannot hold its copies, MailboxLockedError when a mailbox stays locked,
   * MailboxNotProvisionedError when a mailbox root is not provisioned yet, another
   * StoreError (errors.ts) on an I/O failure (nothing kept anywhere), or the stream's own
   * error (a limit the front end enforces, the client gone).
   */
  deliver(
    envelope: Envelope,
    targets: readonly StoreTarget[],
    message: Readable,
    options?: DeliverOptions,
  ): Promise<void>;
  /**
   * Lets go of the owner's mailbox filesystem before it is unmounted, resized or removed:
   * waits for the commits under way in it, closes its files kept open, and makes new
   * deliveries to it wait (MailboxHeldError after the lock wait) until the answered
   * function is called. Call it for every unmount, resize or removal while the store runs.
   */
  release(owner: string): Promise<() => void>;
  /** Waits for deliveries in flight, then closes the files kept open. */
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
/** Mbox files kept open between batches (append/mbox-file.ts), well below the daemon's descriptor limit. */
const MAX_IDLE_OPEN = 256;
export const TEMP_DIR = ".tmp";

export function createMboxStore(options: MboxStoreOptions): MboxStore {
  const tree = new UserOwnedTree(options.mailRoot);
  const tmpDir = path.join(tree.path, TEMP_DIR);
  const { logger, hostname } = options;
  const markers = new CrashMarkers(tmpDir);
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const held = new HeldRoots(lockTimeoutMs);
  const logRecovery = (report: RecoveryReport, message: string) => {
    if (report.truncated.length + report.locksRemoved.length + report.unresolved.length > 0)
      logger.warn(report, message);
    return report;
  };
  const context: MboxFileContext = {
    logger,
    lockTimeoutMs,
    staleLockMs: options.staleLockMs,
    // A failure here fails the append (451): a lock that may cover a partial tail is not broken.
    recoverDeadWriters: () =>
      void logRecovery(recoverStore(tmpDir, logger), "recovered a dead writer before breaking a stale lock"),
    markers,
    tree,
    faults: options.faults,
    writeAttempts: new Map(),
    failures: new FailureLog(logger, (file) => tree.rootOf(file)),
    idleOpen: { count: 0, most: MAX_IDLE_OPEN, allowed: (file) => !held.isHeld(tree.rootOf(file)) },
  };
  const files = new Map<string, MboxFile>();
  const usage = new UsageCache();
  let mailRootDevice: number | undefined;
  const space = new SpaceReservations(
    () => (mailRootDevice ??= filesystemOf(tree.path).device),
    options.minFreeSpace ?? 0,
  );
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
  async function bufferMessage(message: Readable, bodyPath: string): Promise<BufferedBody> {
    try {
      return await bufferBody(message, new MboxoBody(), bodyPath);
    } catch (error) {
      // The message broke a limit (the front end destroyed it with its reply) or the client went away.
      if (message.errored) throw message.errored;
      throw new BodyBufferError(error);
    }
  }

  async function store(
    envelope: Envelope,
    targets: readonly StoreTarget[],
    message: Readable,
    options: DeliverOptions,
  ): Promise<void> {
    await ready();
    const copies = recipientCopies(envelope, uniqueTargets(targets), tree, hostname);
    const bodyPath = path.join(tmpDir, `msg-${markers.writer}-${++tempSeq}`);
    let body: BufferedBody | undefined;
    let release: (() => void) | undefined;
    let leave: (() => void) | undefined;
    try {
      body = await bufferMessage(message, bodyPath);
      // Nothing is read or written in a mailbox whose filesystem is being let go (release).
      leave = await held.enter(copies.map((c) => c.root));
      // Step 3: plan. Refused only when every mailbox is full; then each root is checked.
      await checkQuota(copies, body.size, usage);
      const appends = await fileAppends(
        copies,
        envelope.mailFrom,
        (root) => prepareMailboxRoot(root, tree, logger),
        options.junk === true,
      );
      // Each filesystem must hold every copy it gets; promised until the commit is over.
      release = space.reserve(
        appends,
        body.size,
        (file) => tree.rootOf(file),
        (root) => copies.filter((c) => c.root === root).map((c) => c.target.recipient),
      );
      // Step 4: commit, in every file and synced, or in none.
      const stored = await commitAppends(appends, body, fileFor);
      for (const { owner, bytes } of stored) usage.add(owner, bytes);
    } finally {
      leave?.();
      release?.();
      if (body?.parts === undefined) await fs.unlink(bodyPath).catch(() => {});
    }
  }

  return {
    async provisioned(owner) {
      return provisioningState(mailboxRoot(tree, owner)) !== "missing";
    },
    async usage(owner) {
      return usage.get(owner, mailboxRoot(tree, owner));
    },
    async largestMessage(owner, quota) {
      const root = mailboxRoot(tree, owner);
      const state = provisioningState(root);
      if (state === "unsafe") throw new UnsafeMailboxRootError(root);
      if (state === "missing") return 0;
      const used = await usage.get(owner, root);
      const disk = filesystemOf(root);
      // A large message waits in a temp file under the mail root: a third copy where they share a filesystem.
      return largestMessage(quota - used, space.available(disk), space.sharesMailRoot(disk) ? 3 : 2, disk.blockSize);
    },
    async deliver(envelope, targets, message, options = {}) {
      if (closed) throw new StoreClosedError();
      const delivery = store(envelope, targets, message, options).catch((error: unknown) => {
        // Refused before reading it all: drain the rest so the SMTP side can reply.
        if (!message.readableEnded && !message.destroyed) message.resume();
        throw error;
      });
      inFlight.add(delivery);
      try {
        await delivery;
      } finally {
        inFlight.delete(delivery);
      }
    },
    async release(owner) {
      const root = mailboxRoot(tree, owner);
      const letGo = await held.hold(root);
      for (const file of [...files.values()]) if (tree.rootOf(file.path) === root) file.close();
      return letGo;
    },
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
      for (const file of [...files.values()]) file.close();
      await markers.retire();
    },
  };
}
