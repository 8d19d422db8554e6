// One mbox file seen from this process: a queue of appends served in batches (group
// commit). A batch takes the dotlock once, writes every queued message, fsyncs once, and
// then keeps the lock until each message has been written everywhere else it goes, so a
// message that fails in another file can still be cut out here. Files are always visited
// in one global order (sorted paths), so a batch only ever waits on files after its own:
// no deadlock. A message moves on to its next file as soon as this one is written; the
// fsync runs meanwhile, and the message awaits every file's `durable` before its verdict.
// After a batch the file stays open for a moment (IDLE_OPEN_MS), so the next message to it
// skips the open and its checks; under the next lock it is used only if the path still
// names that very file. The store closes it at once when its filesystem is to be unmounted
// (`close`, and `idleOpen.allowed` says no while the root is held).
import { constants, lstatSync, type Stats } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { AppendHandle } from "./append-handle.ts";
import { itemSize, type AppendItem } from "./append-item.ts";
import { acquireDotlock, releaseDotlock } from "./dotlock.ts";
import type { CrashMarker, CrashMarkers } from "./crash-markers.ts";
import { syncDirectory } from "../../../../lib/durable-file.ts";
import { BatchWriter, separatorAfter } from "./batch-writer.ts";
import type { FaultInjector } from "../faults.ts";
import type { UserOwnedTree } from "../roots/user-owned-tree.ts";
import { RollbackFailedError } from "../errors.ts";
import { PROVISIONED_MARKER } from "../../../../config/mailbox-layout.ts";
import type { FailureLog } from "./failure-log.ts";

/** Most messages per batch. */
const MAX_BATCH = 256;
/** How long a file stays open after its last batch, waiting for the next message. */
const IDLE_OPEN_MS = 2000;
/** open(2) errors that mean "not a regular file": a symlink (O_NOFOLLOW), a FIFO without reader (O_NONBLOCK), a directory. */
const UNSAFE_OPEN_ERRORS = new Set(["ELOOP", "ENXIO", "EISDIR"]);
// Read too: the last bytes tell whether the previous writer ended its message properly.
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** An append written under a lock still held, awaiting its fsync and the message's verdict. */
export interface Appended {
  /** The target is unsafe (a folder that is a symlink, hard link or not a regular file): nothing written. */
  readonly skipped: boolean;
  /** Bytes this append added. */
  readonly bytes: number;
  /** Resolves once the append is fsynced; rejects if the fsync failed (the batch is then already undone). */
  readonly durable: Promise<void>;
  /**
   * Keep (true) or cut out (false) this message. Resolves once the file is final and
   * unlocked; rejects if a kept message could not be kept after all.
   */
  settle(keep: boolean): Promise<void>;
}

/** Refusal of a target that is not a plain file we own alone. */
export class UnsafeMailboxError extends Error {
  override readonly name = "UnsafeMailboxError";
}

export interface MboxFileContext {
  readonly logger: Logger;
  readonly lockTimeoutMs: number;
  /** A lock older than this is stale (dotlock.ts; tests set less). */
  readonly staleLockMs?: number;
  /** Recovers dead writers before a stale lock is broken (dotlock.ts `beforeBreak`). */
  readonly recoverDeadWriters?: () => void;
  readonly markers: CrashMarkers;
  readonly tree: UserOwnedTree;
  readonly faults: FaultInjector | undefined;
  /** write(2) calls per file, for fault injection. */
  readonly writeAttempts: Map<string, number>;
  /** Failed appends, logged once per mailbox while they last (failure-log.ts); absent: each one is logged. */
  readonly failures?: FailureLog;
  /** Files kept open between batches: at most `most`, none that `allowed` refuses (none without it). */
  readonly idleOpen?: IdleOpen;
}

/** The budget of files kept open between batches, shared by a store's files. */
export interface IdleOpen {
  count: number;
  readonly most: number;
  /** False for a file whose filesystem is about to be unmounted. */
  allowed(file: string): boolean;
}

interface Entry {
  readonly item: AppendItem;
  resolve(appended: Appended): void;
  reject(error: unknown): void;
}

interface Written {
  readonly entry: Entry;
  readonly start: number;
  readonly end: number;
  keep?: boolean;
  decided?: () => void;
  finished?: { resolve(): void; reject(error: unknown): void };
}

export class MboxFile {
  readonly path: string;
  readonly #context: MboxFileContext;
  /** What the dotlock is linked from: the mailbox root's provisioning marker (dotlock.ts). */
  readonly #lockSource: string;
  #queue: Entry[] = [];
  #running = false;
  /** The file, still open after the last batch, and when it closes. */
  #idleOpen: { handle: AppendHandle; timer: NodeJS.Timeout } | undefined;
  /** Called when the queue is empty, no batch runs and the file is closed, so the owner can drop this object. */
  onIdle?: () => void;

  constructor(filePath: string, context: MboxFileContext) {
    this.path = filePath;
    this.#context = context;
    this.#lockSource = path.join(context.tree.rootOf(filePath), PROVISIONED_MARKER);
  }

  /** Appends `item` in the next batch; resolves when it is written (lock still held; see `durable`). */
  append(item: AppendItem): Promise<Appended> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      // Wait one turn so messages arriving together share the batch.
      if (!this.#running) {
        this.#running = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  get idle(): boolean {
    return !this.#running && this.#queue.length === 0 && this.#idleOpen === undefined;
  }

  /** Closes the file if it was left open after its last batch (its filesystem is let go, or the store closes). */
  close(): void {
    this.#takeIdleOpen()?.close();
    if (this.idle) this.onIdle?.();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      await this.#runBatch(batch);
    }
    this.#running = false;
    if (this.idle) this.onIdle?.();
  }

  /** Keeps `handle` open for the next batch, if the budget and the file's filesystem allow. */
  #keepOpen(handle: AppendHandle): void {
    const idleOpen = this.#context.idleOpen;
    if (!idleOpen || idleOpen.count >= idleOpen.most || !idleOpen.allowed(this.path)) {
      handle.close();
      return;
    }
    idleOpen.count++;
    const timer = setTimeout(() => this.close(), IDLE_OPEN_MS);
    timer.unref();
    this.#idleOpen = { handle, timer };
  }

  #takeIdleOpen(): AppendHandle | undefined {
    const kept = this.#idleOpen;
    if (!kept) return undefined;
    this.#idleOpen = undefined;
    clearTimeout(kept.timer);
    this.#context.idleOpen!.count--;
    return kept.handle;
  }

  /**
   * The file for this batch (lock held): the one kept open if the path still names it
   * (its open-time checks stand: `checked`), else opened afresh, created if missing.
   */
  async #openForBatch(): Promise<{ handle: AppendHandle; stat: Stats; created: boolean; checked: boolean }> {
    const kept = this.#takeIdleOpen();
    if (kept) {
      const now = lstatSync(this.path, { throwIfNoEntry: false });
      const stat = kept.stat();
      if (now && now.ino === stat.ino && now.dev === stat.dev)
        return { handle: kept, stat, created: false, checked: true };
      kept.close();
    }
    const { handle, created } = await this.#open();
    return { handle, stat: handle.stat(), created, checked: false };
  }

  async #runBatch(batch: Entry[]): Promise<void> {
    const { logger, faults } = this.#context;
    const lockPath = `${this.path}.lock`;
    let marker: CrashMarker | undefined;
    let locked = false;
    let handle: AppendHandle | undefined;
    let created = false;
    let base = -1;
    const written: Written[] = [];
    try {
      // Each step recorded before it is taken (see crash-markers.ts): the slot, then the
      // lock's identity, then the link that makes it our lock.
      const claimed = this.#context.markers.begin(this.path, lockPath);
      marker = claimed;
      await acquireDotlock(this.path, {
        timeoutMs: this.#context.lockTimeoutMs,
        tag: this.#context.markers.instance,
        staleMs: this.#context.staleLockMs,
        beforeBreak: () => this.#context.recoverDeadWriters?.(),
        onStale: (lock, ageMs) => logger.warn({ lock, ageMs }, "removed a stale mailbox lock"),
        beforeLink: (identity) => claimed.setLock(identity),
        linkSource: this.#lockSource,
      });
      locked = true;
      faults?.crashAt?.("lock-taken", this.path);
      let checked: boolean;
      let stat: Stats;
      ({ handle, stat, created, checked } = await this.#openForBatch());
      if (!stat.isFile() || stat.nlink !== 1)
        throw new UnsafeMailboxError(`${this.path} is not a regular file with a single link`);
      const { tree } = this.#context;
      if (!checked && !tree.holds(handle.fd, this.path))
        throw new UnsafeMailboxError(`${this.path} was reached through a directory swapped for a symlink`);
      if (created) tree.giveToOwner(handle.fd, tree.rootOf(this.path));
      base = stat.size;
      marker.setLength(base);
      faults?.crashAt?.("locked", this.path);
      const writer = new BatchWriter(this.path, handle, this.#context);
      const separator = separatorAfter(handle, base);
      await writer.add(separator);
      let position = base + separator.length;
      for (const entry of batch) {
        const start = position;
        const adding = writer.addItem(entry.item);
        if (adding) await adding;
        position += itemSize(entry.item);
        written.push({ entry, start, end: position });
      }
      await writer.flush();
    } catch (error) {
      if (error instanceof UnsafeMailboxError || UNSAFE_OPEN_ERRORS.has((error as NodeJS.ErrnoException).code ?? "")) {
        logger.warn({ file: this.path, err: error }, "refusing an unsafe mailbox file");
        await this.#finish(handle, base, marker, locked);
        for (const entry of batch) entry.resolve(skippedAppend);
        return;
      }
      this.#failed(error, "append failed, rolled back", batch.length);
      await this.#finish(handle, base, marker, locked);
      for (const entry of batch) entry.reject(error);
      return;
    }

    // Hand each message its append now, so it can go on to its next file while we fsync.
    let durable!: { resolve(): void; reject(error: unknown): void };
    const durablePromise = new Promise<void>((resolve, reject) => (durable = { resolve, reject }));
    durablePromise.catch(() => {});
    let undone = false;
    const verdicts: Promise<void>[] = [];
    for (const w of written) {
      verdicts.push(new Promise<void>((decided) => (w.decided = decided)));
      const outcome = new Promise<void>((resolve, reject) => (w.finished = { resolve, reject }));
      outcome.catch(() => {});
      w.entry.resolve({
        skipped: false,
        bytes: w.end - w.start,
        durable: durablePromise,
        settle: (keep) => {
          if (undone) return Promise.resolve();
          if (w.keep === undefined) {
            w.keep = keep;
            w.decided!();
          }
          return outcome;
        },
      });
    }

    try {
      faults?.crashAt?.("before-fsync", this.path);
      await this.#sync(handle, created);
      faults?.crashAt?.("after-fsync", this.path);
    } catch (error) {
      this.#failed(error, "fsync failed, rolled back", written.length);
      undone = true;
      await this.#finish(handle, base, marker, locked);
      for (const w of written) w.finished!.resolve();
      durable.reject(error);
      return;
    }
    durable.resolve();
    await Promise.all(verdicts);

    const firstDropped = written.findIndex((w) => !w.keep);
    if (firstDropped !== -1) {
      // Cut the dropped messages out: truncate to the first, write back the kept ones after it.
      try {
        handle.truncate(written[firstDropped]!.start);
        const writer = new BatchWriter(this.path, handle, this.#context);
        for (const w of written.slice(firstDropped)) if (w.keep) await writer.addItem(w.entry.item);
        await writer.flush();
        await this.#sync(handle, false);
      } catch (error) {
        // A second failure: give the whole batch up, as the crash marker would.
        logger.error({ file: this.path, err: error }, "could not write back kept messages after a rollback");
        await this.#finish(handle, base, marker, locked);
        const lost = new RollbackFailedError(this.path, error);
        for (const w of written) w.finished!.reject(lost);
        return;
      }
    }
    await this.#finish(handle, -1, marker, locked, true);
    if (written.some((w) => w.keep)) this.#context.failures?.succeeded(this.path);
    for (const w of written) w.finished!.resolve();
    this.#keepOpen(handle);
  }

  /** `appends` messages of a batch failed in this file. */
  #failed(error: unknown, what: string, appends: number): void {
    const { failures, logger } = this.#context;
    if (failures) failures.failed(this.path, error, what, appends);
    else logger.error({ file: this.path, err: error }, what);
  }

  /** Opens for append without following links or blocking on a FIFO; creates if missing. */
  async #open(): Promise<{ handle: AppendHandle; created: boolean }> {
    try {
      return { handle: AppendHandle.open(this.path, OPEN_FLAGS), created: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    return {
      handle: await AppendHandle.create(this.path, OPEN_FLAGS | constants.O_CREAT | constants.O_EXCL, 0o600),
      created: true,
    };
  }

  async #sync(handle: AppendHandle, created: boolean): Promise<void> {
    const fault = this.#context.faults?.beforeFsync?.(this.path);
    if (fault) throw fault;
    await handle.datasync();
    if (created) await syncDirectory(path.dirname(this.path));
  }

  /**
   * Restores the length (if `base` >= 0), closes the handle (unless `keepOpen`: the caller
   * may keep it for the next batch), then marks the slot done,
   * removes the lock and only then frees the slot: a kill at any point leaves a slot that
   * names our lock (see crash-markers.ts). If the file cannot be restored, the lock and
   * the marker stay: readers keep off a file with a partial tail, and recovery at the
   * next start truncates it.
   */
  async #finish(
    handle: AppendHandle | undefined,
    base: number,
    marker: CrashMarker | undefined,
    locked: boolean,
    keepOpen = false,
  ): Promise<void> {
    let restored = true;
    if (handle && base >= 0) {
      restored = false;
      for (let attempt = 0; attempt < 3 && !restored; attempt++) {
        try {
          handle.truncate(base);
          await handle.datasync();
          restored = true;
        } catch (error) {
          this.#context.logger.error(
            { file: this.path, err: error, attempt },
            "could not truncate after a failed append",
          );
        }
      }
    }
    try {
      if (!keepOpen) handle?.close();
    } catch {
      // Nothing more to do with it.
    }
    if (!restored) {
      this.#context.logger.error({ file: this.path }, "mailbox left locked with a partial tail until the next start");
      marker?.abandon();
      return;
    }
    const { logger, faults } = this.#context;
    // Without "done" a kill after the unlock would look like a partial append whose lock was taken over.
    try {
      marker?.done();
    } catch (error) {
      logger.error({ err: error }, "could not update a crash marker");
    }
    faults?.crashAt?.("before-unlock", this.path);
    if (locked) {
      try {
        releaseDotlock(`${this.path}.lock`);
      } catch (error) {
        // Keep the slot: it is what lets the next start remove this lock.
        logger.error({ err: error }, "could not remove a mailbox lock");
        marker?.abandon();
        return;
      }
      faults?.crashAt?.("unlocked", this.path);
    }
    try {
      marker?.remove();
    } catch (error) {
      logger.error({ err: error }, "could not remove a crash marker");
    }
  }
}

const skippedAppend: Appended = { skipped: true, bytes: 0, durable: Promise.resolve(), settle: async () => {} };
