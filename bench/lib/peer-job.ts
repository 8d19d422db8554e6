// What a peer MTA (bench/lib/exim.ts, bench/lib/opensmtpd.ts) is started to do in a bench,
// and what the bench gets back: the same two jobs Postfix does there.

/** Deliver mail for `mailbox@domain` into the mbox file `${mailDir}/${mailbox}`. */
export interface MboxJob {
  readonly kind: "mbox";
  readonly domain: string;
  readonly mailboxes: readonly string[];
  /** Created by the starter, with the owner and mode its delivery agent needs. */
  readonly mailDir: string;
}

/** Relay every message from loopback to an SMTP server on 127.0.0.1:sinkPort. */
export interface RelayJob {
  readonly kind: "relay";
  readonly sinkPort: number;
}

export type PeerJob = MboxJob | RelayJob;

export interface PeerInstance {
  /** "exim 4.96-15+deb12u11", "opensmtpd 6.8.0p2-4+b4". */
  readonly name: string;
  /** Its SMTP listener on 127.0.0.1. */
  readonly port: number;
  /** The daemon's pid (its children are the peer's other processes). */
  pid(): Promise<number>;
  /** The daemon's log so far, for errors. */
  output(): Promise<string>;
  /** Stops it and waits until none of its processes is left. */
  stop(): Promise<void>;
}

/** The uid and gid mail is delivered as (nobody), as for Postfix's virtual(8) in bench/inbound. */
export const VMAIL_UID = 65534;
