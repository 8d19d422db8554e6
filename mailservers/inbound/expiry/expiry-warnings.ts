// The warning an owner gets before their mailbox expires (users list `expires`): once,
// `inbound.expiryWarning` before, written by the inbound daemon straight into the mailbox's
// own INBOX through the store (no SMTP, no outbound: the mailbox is ours, and still receives).
// "Once" is remembered in <mailRoot>/.expiry-warnings/<owner>, holding the expiry warned of:
// a new date warns again. Written after the message is stored, so a crash in between warns
// twice rather than never.
import { readFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { MailboxEntry, UsersList } from "../../../config/users-list.ts";
import { writeFileAtomic } from "../../../lib/durable-file.ts";
import { rfc5322Date } from "../../core/received.ts";
import { storeNotice } from "../notices.ts";
import type { MboxStore } from "../store/index.ts";

/** Under the mail root; a dot name, so no owner (config/users-list.ts OWNER_PATTERN) can clash. */
export const EXPIRY_WARNINGS_DIR = ".expiry-warnings";

export interface ExpiryWarningOptions {
  readonly users: () => UsersList;
  readonly store: MboxStore;
  readonly mailRoot: string;
  /** Our host name: the warning's Message-ID. */
  readonly hostname: string;
  /** Who the warning says it is from (postmaster@ of the managed domain). */
  readonly from: string;
  /** How long before the expiry the warning goes (inbound.expiryWarning). */
  readonly warnBefore: number;
  /** Milliseconds since the epoch (the daemon's clock). */
  readonly now: () => number;
  readonly logger: Logger;
}

export interface ExpiryWarnings {
  /** Warns every owner now due and not yet warned of this expiry; resolves with the owners warned. Never two at once. */
  check(): Promise<string[]>;
  /** Resolves once no check is under way. */
  settled(): Promise<void>;
}

function warningText(m: MailboxEntry, options: ExpiryWarningOptions, now: number, id: string): string {
  const when = new Date(m.expires!.at).toISOString().replace(".000Z", "Z");
  return [
    `From: SEMail <${options.from}>`,
    `To: <${m.address}>`,
    `Subject: Your mailbox ${m.address} expires on ${when}`,
    `Date: ${rfc5322Date(new Date(now))}`,
    `Message-ID: <expiry.${id}@${options.hostname}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Auto-Submitted: auto-generated",
    "",
    `Your mailbox ${m.address} stops receiving mail at ${when} (UTC).`,
    "",
    "From then on, mail sent to it is refused and its senders are told the address does not exist.",
    "The mail already in it stays, as it is, until an administrator deletes the mailbox: copy what you want to keep.",
    "To keep the mailbox longer, ask your administrator, or move the date on the web form if you set it yourself.",
    "",
  ].join("\r\n");
}

export function createExpiryWarnings(options: ExpiryWarningOptions): ExpiryWarnings {
  const { store, logger } = options;
  const dir = path.join(options.mailRoot, EXPIRY_WARNINGS_DIR);
  const warnedOf = (owner: string) => readFile(path.join(dir, owner), "utf8").catch(() => "");

  const warn = async (m: MailboxEntry, now: number): Promise<void> => {
    await storeNotice(store, {
      kind: "expiry",
      hostname: options.hostname,
      now,
      targets: [{ owner: m.owner, recipient: m.address, quota: m.size }],
      text: (id) => warningText(m, options, now, id),
    });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(dir, m.owner), m.expires!.written, 0o600);
  };

  const checkNow = async (): Promise<string[]> => {
    const now = options.now();
    const warned: string[] = [];
    for (const m of options.users().mailboxes) {
      if (!m.expires || now < m.expires.at - options.warnBefore || now >= m.expires.at) continue;
      if ((await warnedOf(m.owner)) === m.expires.written) continue;
      try {
        await warn(m, now);
        warned.push(m.owner);
        logger.info({ owner: m.owner, expires: m.expires.written }, "expiry warning stored in the owner's INBOX");
      } catch (err) {
        // Tried again at the next check.
        logger.warn({ owner: m.owner, err: (err as Error).message }, "cannot store the expiry warning");
      }
    }
    return warned;
  };

  let running: Promise<string[]> = Promise.resolve([]);
  return {
    check() {
      running = running.then(checkNow, checkNow);
      return running;
    },
    settled: () => running.then(() => undefined),
  };
}
