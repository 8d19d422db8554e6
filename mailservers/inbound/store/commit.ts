// Committing a planned delivery: the message is in every file, synced, or in none. Three
// steps: write each append in file order (each file's batch keeps its lock until the
// verdict), wait until every written append is durable, then keep all or cut all out.
import { RolledBackError, PartiallyStoredError, StoreError, UnsafeInboxError } from "./errors.ts";
import type { Appended, MboxFile } from "./append/mbox-file.ts";
import type { FileAppend } from "./plan.ts";
import type { BufferedBody } from "./body-buffer.ts";

/** Bytes a stored message added to one owner's mailbox. */
export interface Stored {
  readonly owner: string;
  readonly bytes: number;
}

interface Written {
  readonly owner: string;
  readonly appended: Appended;
}

/**
 * Appends `body` to every file of `appends` (sorted) and resolves once each copy is
 * synced and final. Throws a StoreError after cutting out every copy: the dotlock's or
 * an unsafe INBOX's own, else RolledBackError; PartiallyStoredError if a copy meant to
 * be kept was lost.
 */
export async function commitAppends(
  appends: readonly FileAppend[],
  body: BufferedBody,
  fileFor: (file: string) => MboxFile,
): Promise<Stored[]> {
  const { written, failure: writeFailure } = await writeInOrder(appends, body, fileFor);
  const failure = writeFailure ?? (await firstSyncFailure(written));
  const lost = await settle(written, failure === undefined);
  if (failure !== undefined) throw failure instanceof StoreError ? failure : new RolledBackError(failure);
  if (lost.length > 0) throw new PartiallyStoredError(lost);
  return written.map(({ owner, appended }) => ({ owner, bytes: appended.bytes }));
}

/**
 * Files in one order everywhere (see append/mbox-file.ts): each append waits for the previous
 * to be written, not synced. Stops at the first failure, or at an INBOX that is unsafe.
 */
async function writeInOrder(
  appends: readonly FileAppend[],
  body: BufferedBody,
  fileFor: (file: string) => MboxFile,
): Promise<{ written: Written[]; failure: unknown }> {
  const written: Written[] = [];
  for (const append of appends) {
    let appended: Appended;
    try {
      appended = await fileFor(append.file).append({ prefixes: append.prefixes, body });
    } catch (error) {
      return { written, failure: error };
    }
    written.push({ owner: append.owner, appended });
    if (appended.skipped && append.inbox) return { written, failure: new UnsafeInboxError(append.file) };
  }
  return { written, failure: undefined };
}

/** Written everywhere: waits until every copy is synced; the first fsync failure, if any. */
async function firstSyncFailure(written: readonly Written[]): Promise<unknown> {
  const synced = await Promise.allSettled(written.map((w) => w.appended.durable));
  const failed = synced.find((s) => s.status === "rejected");
  return failed?.reason;
}

/** Keeps (or cuts out) every copy; returns why copies meant to be kept were lost. */
async function settle(written: readonly Written[], keep: boolean): Promise<unknown[]> {
  const settled = await Promise.allSettled(written.map((w) => w.appended.settle(keep)));
  return keep ? settled.flatMap((s) => (s.status === "rejected" ? [s.reason] : [])) : [];
}
