// Planning a delivery: which mbox files get which copies of a message. Each recipient
// gets its trace prefix (From_ line, Return-Path, Delivered-To, Received) and a copy in
// its INBOX and in the folder of its (recipient, sender) pair, <root>/mail/<folder-name>;
// or, for mail judged unwanted, one copy in <root>/mail/Junk only.
import path from "node:path";
import type { Envelope } from "../../core/types.ts";
import { FOLDERS_DIRECTORY, INBOX_FILE } from "../../../config/mailbox-layout.ts";
import { QuotaExceededError } from "./errors.ts";
import { JUNK_FOLDER, folderName } from "./mbox/folder-name.ts";
import { messagePrefix } from "./mbox/mboxo.ts";
import { mailboxRoot } from "./roots/mailbox-root.ts";
import type { UsageCache } from "./roots/usage.ts";
import type { UserOwnedTree } from "./roots/user-owned-tree.ts";

/** One recipient's mailbox: whose root, which address (Delivered-To, folder name), how many bytes allowed. */
export interface StoreTarget {
  owner: string;
  recipient: string;
  quota: number;
}

/** A recipient's copies: its mailbox root and the prefix before the shared body. */
export interface RecipientCopy {
  readonly target: StoreTarget;
  readonly root: string;
  readonly prefix: Buffer;
}

/** One append to one file: a copy per recipient whose mailbox this file is. */
export interface FileAppend {
  readonly file: string;
  readonly owner: string;
  /** The recipient's INBOX (or Junk), which must get the message (a pair folder may be skipped). */
  readonly inbox: boolean;
  readonly prefixes: Buffer[];
}

/** One copy per (owner, recipient); the same address twice is one delivery. */
export function uniqueTargets(targets: readonly StoreTarget[]): StoreTarget[] {
  const seen = new Map<string, StoreTarget>();
  for (const target of targets) {
    const key = `${target.owner}\0${target.recipient.toLowerCase()}`;
    if (!seen.has(key)) seen.set(key, target);
  }
  return [...seen.values()];
}

/** Each target's root (InvalidOwnerError for one that leaves the mail root) and prefix. */
export function recipientCopies(
  envelope: Envelope,
  targets: readonly StoreTarget[],
  tree: UserOwnedTree,
  hostname: string,
): RecipientCopy[] {
  return targets.map((target) => ({
    target,
    root: mailboxRoot(tree, target.owner),
    prefix: messagePrefix(envelope, target.recipient, hostname),
  }));
}

/** Refuses only when every recipient's mailbox would go over its quota (grace for the others). */
export async function checkQuota(copies: readonly RecipientCopy[], bodySize: number, usage: UsageCache): Promise<void> {
  const over = await Promise.all(
    copies.map(async ({ target, root, prefix }) => {
      const adds = 2 * (prefix.length + bodySize);
      return (await usage.get(target.owner, root)) + adds > target.quota;
    }),
  );
  if (over.length > 0 && over.every(Boolean)) throw new QuotaExceededError("every recipient's mailbox is full");
}

/**
 * The appends, one per file, in sorted path order (the order every delivery takes its
 * files in, see append/mbox-file.ts). A file can serve several copies: two recipients of one
 * mailbox share its INBOX (appending twice to one file would wait on itself).
 * `prepareRoot` checks a root and says whether its mail/ can take the folder copy.
 * `junk`: the one copy goes to mail/Junk instead of INBOX and the pair folder (a forged sender
 * must not fill the folder named after the real one); INBOX still where mail/ cannot take it.
 */
export async function fileAppends(
  copies: readonly RecipientCopy[],
  sender: string,
  prepareRoot: (root: string) => Promise<boolean>,
  junk = false,
): Promise<FileAppend[]> {
  const byFile = new Map<string, FileAppend>();
  const add = (file: string, owner: string, inbox: boolean, prefix: Buffer) => {
    const append = byFile.get(file);
    if (append) append.prefixes.push(prefix);
    else byFile.set(file, { file, owner, inbox, prefixes: [prefix] });
  };
  for (const { target, root, prefix } of copies) {
    const withFolder = await prepareRoot(root);
    // Junk must get it, as INBOX must otherwise (FileAppend.inbox).
    if (junk && withFolder) {
      add(path.join(root, FOLDERS_DIRECTORY, JUNK_FOLDER), target.owner, true, prefix);
      continue;
    }
    add(path.join(root, INBOX_FILE), target.owner, true, prefix);
    if (withFolder)
      add(path.join(root, FOLDERS_DIRECTORY, folderName(target.recipient, sender)), target.owner, false, prefix);
  }
  return [...byFile.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}
