// The limits the SMTP front end enforces, with their defaults (RFC 5321 section 4.5.3).

export interface SmtpLimits {
  /** Recipients per message; more get 452 4.5.3 (RFC 5321 4.5.3.1.8 asks for at least 100). */
  readonly maxRecipients: number;
  /** Received headers a message may carry; more is a loop: 554 5.4.0. */
  readonly maxReceivedHeaders: number;
  /** Bytes in one message line; RFC 5322 says 998, real mail is sloppier. */
  readonly maxLineLength: number;
  /** Bytes in one command line; a longer one ends the session (421). */
  readonly maxCommandLength: number;
  /** Close a session that sent nothing for this long (421); RFC 5321 wants at least 5 minutes. */
  readonly idleTimeoutMs: number;
  /** Close a session that leaves a command (or message line) unfinished this long (421). */
  readonly commandTimeoutMs: number;
  /** Concurrent sessions over all listeners; more get 421 4.3.2. */
  readonly maxConnections: number;
  /** Concurrent sessions from one address; more get 421 4.7.0. */
  readonly maxConnectionsPerIp: number;
  /** Pause before the greeting; a client that talks in it gets 421 (early talker). 0 greets at once. */
  readonly greetDelayMs: number;
  /** A client address that waited out the pause is greeted at once for this long (postscreen's greet cache); 0: always pause. */
  readonly greetPassTtlMs: number;
  /** On shutdown, how long open sessions may finish before they are cut. */
  readonly closeTimeoutMs: number;
}

export const DEFAULT_LIMITS: SmtpLimits = {
  maxRecipients: 100,
  maxReceivedHeaders: 100,
  maxLineLength: 64 * 1024,
  maxCommandLength: 4096,
  idleTimeoutMs: 5 * 60_000,
  commandTimeoutMs: 5 * 60_000,
  maxConnections: 1000,
  maxConnectionsPerIp: 100,
  greetDelayMs: 100,
  greetPassTtlMs: 86_400_000,
  closeTimeoutMs: 30_000,
};
