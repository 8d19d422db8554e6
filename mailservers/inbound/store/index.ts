// The mbox store: where the inbound daemon puts accepted mail. Each mailbox root is
// <mailRoot>/<owner>/ with INBOX at <root>/INBOX and one folder per (recipient, sender)
// pair at <root>/mail/<folder-name> (Dovecot `mbox:~/mail:INBOX=~/INBOX`, mutt).
//
// A message is transformed once (mboxrd, see mboxrd.ts) into memory or a temp file
// (spool-body.ts), then appended to every target file in sorted path order through
// per-file group-commit queues (mbox-file.ts). deliver() resolves only when every copy is
// fsynced; on any failure every copy already written is cut out again before the 451.
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
import { promises as fs, lstatSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { ownerProblem } from "../../../config/users-list.ts";
import { SmtpError, permFail, tempFail, type Envelope } from "../../core/types.ts";
import { CrashMarkers } from "./crash-markers.ts";
import type { FaultInjector } from "./faults.ts";
import { syncDirectory } from "../../../lib/durable-file.ts";
import { folderName } from "./folder-name.ts";
import { MailRoot } from "./mail-root.ts";
import { MboxFile, type Appended, type MboxFileContext } from "./mbox-file.ts";
import { MboxrdBody, messagePrefix } from "./mboxrd.ts";
import { spoolBody, type SpooledBody } from "./spool-body.ts";
import { recoverStore, type RecoveryReport } from "./recovery.ts";
import { UsageCache } from "./usage.ts";

export type { FaultInjector, CrashPoint } from "./faults.ts";
export { faultError } from "./faults.ts";
export { folderName, parseFolderName, NULL_SENDER, MAX_FOLDER_NAME } from "./folder-name.ts";
export { STRIPPED_HEADERS } from "./mboxrd.ts";
export type { RecoveryReport } from "./recovery.ts";

/** One recipient's mailbox: whose root, which address (Delivered-To, folder name), how many bytes allowed. */
export interface StoreTarget {
  owner: string;
  recipient: string;
  quota: number;
}

export interface MboxStoreOptions {
  /** Directory holding one mailbox root per owner, and the store's private `.tmp/`. */
  mailRoot: string;
  /** Our name in the Received header. */
  hostname: string;
  logger: Logger;
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
   * Stores `message` for every target; resolves once every copy is fsynced. Throws
   * 552 5.2.2 when every target is over quota, 451 4.2.0 when a mailbox stays locked,
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

export function createMboxStore(options: MboxStoreOptions): MboxStore {
  const mailRootAccess = new MailRoot(options.mailRoot);
  const mailRoot = mailRootAccess.path;
  const tmpDir = path.join(mailRoot, TEMP_DIR);
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
    mailRoot: mailRootAccess,
    faults: options.faults,
    writeAttempts: new Map(),
  };
  const files = new Map<string, MboxFile>();
  const usage = new UsageCache();
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  let tempSeq = 0;

  const recovered = (async () => {
    await fs.mkdir(markers.dir, { recursive: true, mode: 0o700 });
    return logRecovery(recoverStore(tmpDir, logger), "recovered from a crash");
  })();
  recovered.catch(() => {});

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

  function rootOf(owner: string): string {
    const root = path.join(mailRoot, owner);
    // The users list validated it; a path that leaves the mail root is refused anyway.
    if (ownerProblem(owner) !== undefined || path.dirname(root) !== mailRoot) {
      throw tempFail(451, "4.3.0", "Mailbox configuration error");
    }
    return root;
  }

  async function run(envelope: Envelope, targets: readonly StoreTarget[], message: Readable): Promise<void> {
    await recovered.catch((error) => {
      logger.error({ err: error }, "mail store recovery failed");
      throw tempFail(451, "4.3.0", "Mail store unavailable, try again later");
    });
    const unique = dedupe(targets);
    const roots = unique.map((target) => rootOf(target.owner));
    const bodyPath = path.join(tmpDir, `msg-${markers.writer}-${++tempSeq}`);
    let spooled: SpooledBody | undefined;
    try {
      try {
        spooled = await spoolBody(message, new MboxrdBody(), bodyPath);
      } catch (error) {
        // The message broke a limit (SmtpError from the front end) or the client went away.
        if (error instanceof SmtpError || message.errored) throw message.errored ?? error;
        logger.error({ err: error }, "could not write a temp file");
        throw tempFail(451, "4.3.0", "Could not store the message, try again later");
      }
      const bodySize = spooled.size;

      // Quota: refuse only when every recipient's mailbox is full (grace for the others).
      const plans = await Promise.all(unique.map(async (target, i) => {
        const root = roots[i]!;
        const prefix = messagePrefix(envelope, target.recipient, hostname);
        const used = await usage.get(target.owner, root);
        return { target, root, prefix, adds: 2 * (prefix.length + bodySize), used };
      }));
      if (plans.length > 0 && plans.every((p) => p.used + p.adds > p.target.quota)) {
        throw permFail(552, "5.2.2", "Mailbox full");
      }

      // One append per file. A file can serve several copies: two recipients of one
      // mailbox share its INBOX (appending twice to one file would wait on itself).
      const byFile = new Map<string, { file: string; owner: string; inbox: boolean; prefixes: Buffer[] }>();
      const addCopy = (file: string, owner: string, inbox: boolean, prefix: Buffer) => {
        const append = byFile.get(file);
        if (append) append.prefixes.push(prefix);
        else byFile.set(file, { file, owner, inbox, prefixes: [prefix] });
      };
      for (const plan of plans) {
        const withFolder = await ensureDirectories(plan.root, mailRootAccess, logger);
        addCopy(path.join(plan.root, "INBOX"), plan.target.owner, true, plan.prefix);
        if (withFolder) {
          addCopy(path.join(plan.root, "mail", folderName(plan.target.recipient, envelope.mailFrom)), plan.target.owner, false, plan.prefix);
        }
      }
      const appends = [...byFile.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));

      // Files in one order everywhere (see mbox-file.ts); each append waits for the previous to be written.
      const done: { owner: string; appended: Appended }[] = [];
      let failure: unknown;
      for (const append of appends) {
        try {
          const appended = await fileFor(append.file).append({ prefixes: append.prefixes, body: spooled! });
          done.push({ owner: append.owner, appended });
          if (appended.skipped && append.inbox) {
            failure = tempFail(451, "4.3.0", "Mailbox is not a regular file, contact the postmaster");
            break;
          }
        } catch (error) {
          failure = error;
          break;
        }
      }
      // Written everywhere: now wait until it is fsynced everywhere, then decide.
      if (failure === undefined) {
        const synced = await Promise.allSettled(done.map((d) => d.appended.durable));
        const failed = synced.find((s) => s.status === "rejected");
        if (failed) failure = failed.reason;
      }
      const settled = await Promise.allSettled(done.map((d) => d.appended.settle(failure === undefined)));
      if (failure !== undefined) {
        if (failure instanceof SmtpError) throw failure;
        throw tempFail(451, "4.3.0", "Could not write the mailbox, try again later");
      }
      for (const d of done) usage.add(d.owner, d.appended.bytes);
      if (settled.some((s) => s.status === "rejected")) {
        logger.error({ id: envelope.id }, "a message was stored in some mailbox files but not all");
        throw tempFail(451, "4.3.0", "Could not write the mailbox, try again later");
      }
    } finally {
      if (spooled?.parts === undefined) await fs.unlink(bodyPath).catch(() => {});
    }
  }

  return {
    async provisioned(owner) {
      return provisioningState(rootOf(owner)) !== "missing";
    },
    async usage(owner) {
      return usage.get(owner, rootOf(owner));
    },
    async deliver(envelope, targets, message) {
      if (closed) throw tempFail(421, "4.3.2", "Service shutting down");
      const delivery = run(envelope, targets, message).catch((error: unknown) => {
        // Refused before reading it all: drain the rest so the SMTP side can reply.
        if (!message.readableEnded && !message.destroyed) message.resume();
        if (error instanceof SmtpError) throw error;
        logger.error({ err: error, id: envelope.id }, "delivery failed");
        throw tempFail(451, "4.3.0", "Could not store the message, try again later");
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

/** One copy per (owner, recipient); the same address twice is one delivery. */
function dedupe(targets: readonly StoreTarget[]): StoreTarget[] {
  const seen = new Map<string, StoreTarget>();
  for (const target of targets) {
    const key = `${target.owner}\0${target.recipient.toLowerCase()}`;
    if (!seen.has(key)) seen.set(key, target);
  }
  return [...seen.values()];
}

/** Written into a mailbox root by provisioning; it survives a reader deleting an empty INBOX. */
export const PROVISIONED_MARKER = ".semail-mailbox";

/**
 * Provisions a mailbox root as a plain directory, the way mailbox-fs.sh populates a
 * mounted filesystem: INBOX, mail/ and the marker. For local mode without root, the
 * daemon's own postmaster mailbox and the benchmarks; never for a listed owner on the VM.
 */
export async function provisionPlainRoot(mailRoot: string, owner: string): Promise<void> {
  const root = path.join(mailRoot, owner);
  await fs.mkdir(path.join(root, "mail"), { recursive: true, mode: 0o700 });
  for (const file of ["INBOX", PROVISIONED_MARKER]) await fs.writeFile(path.join(root, file), "", { flag: "a", mode: 0o600 });
}

/**
 * Provisioning (mailbox-fs.sh on the VM, the local applier) makes the root and puts an
 * INBOX and PROVISIONED_MARKER in it. A root with neither is not ready: not made yet, or
 * the empty mount point of a filesystem that is not mounted, where mail would land on the
 * host's own disk. Checked for every message, with synchronous calls (see append-handle.ts).
 */
function provisioningState(root: string): "missing" | "unsafe" | "ready" {
  const rootStat = lstatSync(root, { throwIfNoEntry: false });
  if (!rootStat) return "missing";
  if (!rootStat.isDirectory()) return "unsafe";
  for (const name of [PROVISIONED_MARKER, "INBOX"]) if (lstatSync(path.join(root, name), { throwIfNoEntry: false })) return "ready";
  return "missing";
}

/**
 * Checks <root>/ and creates <root>/mail/ if missing. A root that is missing (not
 * provisioned yet: never created here, see `provisioned`) or not a real directory is
 * refused (451); a `mail` that is not a directory only loses the folder copy (returns false).
 */
async function ensureDirectories(root: string, mailRoot: MailRoot, logger: Logger): Promise<boolean> {
  const state = provisioningState(root);
  if (state === "missing") {
    logger.warn({ root }, "mailbox root not provisioned (missing, or an empty mount point); refusing for now");
    throw tempFail(451, "4.2.1", "Mailbox is being set up, try again later");
  }
  if (state === "unsafe") {
    logger.error({ directory: root }, "mailbox root is a symlink or not a directory");
    throw tempFail(451, "4.3.0", "Mailbox is misconfigured, contact the postmaster");
  }
  const directory = path.join(root, "mail");
  let stat = lstatSync(directory, { throwIfNoEntry: false });
  if (!stat) {
    await fs.mkdir(directory, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    mailRoot.giveDirectoryToOwner(directory, root);
    await syncDirectory(root);
    stat = lstatSync(directory);
  }
  if (!stat.isDirectory()) {
    logger.error({ directory }, "mailbox directory is a symlink or not a directory");
    return false;
  }
  return true;
}
