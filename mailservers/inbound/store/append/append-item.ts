// What one append writes, shared by the file's queue (mbox-file.ts) and its writes
// (batch-writer.ts).
import type { BufferedBody } from "../body-buffer.ts";

/**
 * A message to append: for each copy (one per recipient whose mailbox this file is), our
 * trace prefix and then the shared mboxo body (in memory or a temp file).
 */
export interface AppendItem {
  readonly prefixes: readonly Buffer[];
  readonly body: BufferedBody;
}

/** Bytes `item` adds to the file. */
export function itemSize(item: AppendItem): number {
  let size = 0;
  for (const prefix of item.prefixes) size += prefix.length + item.body.size;
  return size;
}
