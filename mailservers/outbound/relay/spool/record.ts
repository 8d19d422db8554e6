// What the spool keeps of a message besides its bytes: the envelope, and where the bytes
// are. Its own file so the spool and its segment files share it without importing each other.

export interface SpoolEnvelope {
  /** Reverse path; "" for the null sender (our own DSNs). */
  readonly from: string;
  readonly recipients: readonly string[];
  /** Arrival time, ms since the epoch. */
  readonly arrival: number;
  /** Authenticated submitter, for logs and `semail queue list`. */
  readonly user?: string;
  /** True for a DSN we generated: never bounced itself. */
  readonly dsn?: boolean;
}

export interface SpoolRecord extends SpoolEnvelope {
  readonly id: string;
  /** Byte offset of the message in its file. */
  readonly offset: number;
  /** Size of the message in bytes. */
  readonly size: number;
  /** The segment that holds the message; absent when it has a file of its own. */
  readonly segment?: string;
}
