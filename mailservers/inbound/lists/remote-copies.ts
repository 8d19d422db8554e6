// A list post's one copy for all its members on other servers: the message (list header
// fields already on it) is held so it can be read twice, the local copies are stored first,
// then the copy goes to outbound with the forward account (forward/forwarder.ts relayListPost),
// MAIL FROM the list's bounce address (core/list-bounce-address.ts), so each remote member's
// bounce comes back to the list, and the answer is outbound's: 250 only once spooled there.
// If outbound then refuses, the poster gets that 4xx/5xx and a retry may store second local
// copies, as a forward's kept copy may: nothing is lost.
import path from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { MailingList } from "../../../config/mailing-lists.ts";
import type { ListBounceAddresses } from "../../core/list-bounce-address.ts";
import type { Envelope } from "../../core/types.ts";
import { holdMessage } from "../auth/held-message.ts";
import type { StoreTarget } from "../store/index.ts";

/** Who gets a post: local members' mailboxes, and members on other servers (one copy for all, through outbound). */
export interface ListCopies {
  readonly local: readonly StoreTarget[];
  readonly remote: readonly string[];
}

export interface RemoteCopies {
  readonly bounces: ListBounceAddresses;
  /** Hands `message` to outbound as the forward account from `mailFrom` to `recipients`; resolves with its 250 text. */
  readonly relay: (
    envelope: Envelope,
    mailFrom: string,
    recipients: readonly string[],
    message: Readable,
  ) => Promise<string>;
  /** Where a large message waits while it is read twice (the store's temp dir). */
  readonly tempDir: string;
}

let sequence = 0;

export async function sendRemoteCopies(
  remote: RemoteCopies,
  post: {
    readonly envelope: Envelope;
    readonly list: MailingList;
    readonly copies: ListCopies;
    readonly message: Readable;
    readonly storeLocal: (targets: readonly StoreTarget[], message: Readable) => Promise<void>;
    readonly logger: Logger;
  },
): Promise<string> {
  const { envelope, list, copies } = post;
  const held = await holdMessage(post.message, path.join(remote.tempDir, `list-${process.pid}-${++sequence}`));
  try {
    if (copies.local.length > 0) await post.storeLocal(copies.local, held.stream());
    const answer = await remote.relay(envelope, remote.bounces.make(list.address), copies.remote, held.stream());
    post.logger.info(
      { id: envelope.id, list: list.address, local: copies.local.length, remote: copies.remote },
      "list post stored here and handed to outbound for the members on other servers",
    );
    return answer;
  } finally {
    await held.release();
  }
}
