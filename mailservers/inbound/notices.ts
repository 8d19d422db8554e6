// A notice SEMail itself writes to mailbox owners (the expiry warning, a list's bounce
// report): stored straight into their mailboxes through the store, with no SMTP session
// behind it, from the null sender.
import { Readable } from "node:stream";
import { newMessageId } from "../core/ids.ts";
import type { Envelope } from "../core/types.ts";
import type { MboxStore, StoreTarget } from "./store/index.ts";

export interface Notice {
  /** Names the notice's session: "<kind>-<message id>". */
  readonly kind: string;
  /** Our host name: the session's client host name. */
  readonly hostname: string;
  /** Milliseconds since the epoch: when it was received. */
  readonly now: number;
  readonly targets: StoreTarget[];
  /** The whole message (CRLF lines), given its message id. */
  readonly text: (id: string) => string;
}

/** Stores the notice in every target's mailbox; rejects when the store does. */
export async function storeNotice(store: Pick<MboxStore, "deliver">, notice: Notice): Promise<void> {
  const id = newMessageId();
  const envelope: Envelope = {
    id,
    session: {
      id: `${notice.kind}-${id}`,
      remoteAddress: "127.0.0.1",
      remotePort: 0,
      localAddress: "127.0.0.1",
      localPort: 0,
      clientHostname: notice.hostname,
      secure: false,
    },
    mailFrom: "",
    recipients: notice.targets.map((t) => t.recipient),
    protocol: "SMTP",
    receivedAt: new Date(notice.now),
  };
  await store.deliver(envelope, notice.targets, Readable.from([Buffer.from(notice.text(id))]));
}
