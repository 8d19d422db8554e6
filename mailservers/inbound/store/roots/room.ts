// How big a message a mailbox can take now. Two limits: its quota (bytes of its files), and
// the filesystem its root is on, which must hold both copies (INBOX and the pair folder)
// block for block. The filesystem is the one that bites: a 64 MiB ext4 image has about
// 54 MB free, so a 30 MiB message within the quota still ran out of disk on its second
// copy, and every retry did the same. Checked before the first byte is appended, so a
// message that cannot fit is refused for good (552 5.2.2) and nothing is written.
//
// A mailbox root on the mail root's own filesystem (a plain directory: local mode without
// root, the default postmaster mailbox) shares it with the store's temp bodies and keeps
// inbound.minFreeSpace free there; its own image (mailbox-fs.sh) is the mailbox's alone.
import { lstatSync, statfsSync } from "node:fs";
import { NoRoomError } from "../errors.ts";
import type { FileAppend } from "../plan.ts";

/** What the store allows for its trace prefix (From_, Return-Path, Delivered-To, Received) when it guesses ahead. */
export const PREFIX_ALLOWANCE = 1024;
/** Bytes an append may add besides the prefixes and body: the separator after a torn last line (append/batch-writer.ts). */
const SEPARATOR = 2;
/** The mboxo body is at most this much longer than the message sent with CRLF endings: the final newline and blank line. */
const BODY_GROWTH = 2;
/** Blocks kept aside on each filesystem: a new folder's directory entry, a dotlock, a crash marker. */
const SPARE_BLOCKS = 4;

/** The filesystem a mailbox root is on, as statfs(2) tells it now. */
export interface Filesystem {
  readonly device: number;
  /** Bytes an unprivileged writer may still use (f_bavail). */
  readonly free: number;
  readonly blockSize: number;
}

/**
 * Synchronous on purpose: the look and the reservation that follows it happen in one turn
 * of the event loop, so two deliveries never both count the same free blocks.
 */
export function filesystemOf(root: string): Filesystem {
  const stats = statfsSync(root);
  return { device: lstatSync(root).dev, free: stats.bavail * stats.bsize, blockSize: stats.bsize };
}

/**
 * Bytes of disk an append of `bytes` may take: its data blocks, and extent-tree blocks even
 * if the file ends up in pieces (an ext4 leaf with 1 KiB blocks holds 84 extents).
 */
export function diskCost(bytes: number, blockSize: number): number {
  const blocks = Math.ceil(bytes / blockSize);
  return (blocks + Math.ceil(blocks / 64) + 1) * blockSize;
}

/** The largest append, in bytes, of which `copies` fit in `room` bytes of disk. */
export function largestAppend(room: number, copies: number, blockSize: number): number {
  const blocks = Math.floor(room / copies / blockSize);
  // diskCost's inverse, from above: at most a few steps down.
  let bytes = Math.max(0, Math.floor(((blocks - 2) * 64) / 65) * blockSize);
  while (bytes > 0 && copies * diskCost(bytes, blockSize) > room) bytes -= blockSize;
  return bytes;
}

/**
 * The largest message (as sent, CRLF endings, as SIZE counts it) a mailbox takes now: both
 * copies within `quotaLeft` and in `disk` (SpaceReservations.available). `copies` on the
 * disk is 3 when the temp body of a large message goes there too. Never negative.
 */
export function largestMessage(quotaLeft: number, disk: number, copies: number, blockSize: number): number {
  const byQuota = Math.floor(quotaLeft / 2);
  const byDisk = largestAppend(disk, copies, blockSize);
  return Math.max(0, Math.min(byQuota, byDisk) - PREFIX_ALLOWANCE - SEPARATOR - BODY_GROWTH);
}

/**
 * Disk promised to deliveries still being written, per filesystem: a delivery that looks
 * while another writes counts what the other will still take.
 */
export class SpaceReservations {
  readonly #byDevice = new Map<number, number>();
  /** The mail root's filesystem, and what must stay free on it. */
  readonly #mailRoot: { readonly device: () => number; readonly keepFree: number };

  constructor(mailRootDevice: () => number, keepFree: number) {
    this.#mailRoot = { device: mailRootDevice, keepFree };
  }

  /** Bytes of `fs` the store may still promise: free, less what is promised and what must stay free. */
  available(fs: Filesystem): number {
    const kept = fs.device === this.#mailRoot.device() ? this.#mailRoot.keepFree : 0;
    return fs.free - (this.#byDevice.get(fs.device) ?? 0) - kept - SPARE_BLOCKS * fs.blockSize;
  }

  /** Whether `fs` is the mail root's, where a large message's temp body lives as well. */
  sharesMailRoot(fs: Filesystem): boolean {
    return fs.device === this.#mailRoot.device();
  }

  /**
   * Promises the disk `appends` need, or throws NoRoomError naming the recipients whose
   * filesystem cannot hold their copies (nothing promised then). Returns the release.
   */
  reserve(
    appends: readonly FileAppend[],
    bodySize: number,
    rootOf: (file: string) => string,
    recipientsOf: (root: string) => readonly string[],
  ): () => void {
    const need = new Map<number, { fs: Filesystem; bytes: number; roots: Set<string> }>();
    for (const append of appends) {
      const root = rootOf(append.file);
      const fs = filesystemOf(root);
      const entry = need.get(fs.device) ?? { fs, bytes: 0, roots: new Set<string>() };
      let bytes = SEPARATOR;
      for (const prefix of append.prefixes) bytes += prefix.length + bodySize;
      entry.bytes += diskCost(bytes, fs.blockSize);
      entry.roots.add(root);
      need.set(fs.device, entry);
    }
    const short = [...need.values()].filter(({ fs, bytes }) => bytes > this.available(fs));
    if (short.length > 0) {
      const recipients = short.flatMap(({ roots }) => [...roots].flatMap(recipientsOf));
      throw new NoRoomError(
        recipients,
        short.map(({ fs, bytes }) => ({ needed: bytes, available: Math.max(0, this.available(fs)) })),
      );
    }
    for (const { fs, bytes } of need.values())
      this.#byDevice.set(fs.device, (this.#byDevice.get(fs.device) ?? 0) + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const { fs, bytes } of need.values()) {
        const left = (this.#byDevice.get(fs.device) ?? 0) - bytes;
        if (left > 0) this.#byDevice.set(fs.device, left);
        else this.#byDevice.delete(fs.device);
      }
    };
  }
}
