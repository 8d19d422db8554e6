// The contract between the shared SMTP front end (mailservers/core) and a delivery
// backend: store (inbound, mbox) or relay (outbound, spool + MX).
import type { Readable } from "node:stream";
import type { SessionCredentials } from "./credentials.ts";

/** A plain view of an SMTP session, free of smtp-server's types. */
export interface SessionInfo {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Name given in HELO/EHLO. */
  readonly clientHostname: string;
  /** TLS in use (STARTTLS or implicit). */
  readonly secure: boolean;
  /** Authenticated user (LDAP uid). */
  readonly user?: string;
  /** The authenticated user's login, where the front end was asked to keep it (auth.keepCredentials). */
  readonly credentials?: SessionCredentials;
}

/** One accepted message's envelope, handed to the backend with the message stream. */
export interface Envelope {
  /** Queue/trace id, unique per message. */
  readonly id: string;
  readonly session: SessionInfo;
  /** Reverse path; "" for the null sender <>. */
  readonly mailFrom: string;
  /** Accepted forward paths, in RCPT order. */
  readonly recipients: readonly string[];
  /** SIZE= given at MAIL FROM, if any. */
  readonly declaredSize?: number;
  /** "SMTP" | "ESMTP" | "ESMTPS" | "ESMTPA" | "ESMTPSA", for the Received header (RFC 3848). */
  readonly protocol: string;
  readonly receivedAt: Date;
}

/**
 * A refusal with an explicit reply. Temporary (4xx) and permanent (5xx) are distinct
 * types, like Haraka's DENYSOFT / DENY. smtp-server sends `responseCode` and `message`.
 */
export class SmtpError extends Error {
  readonly responseCode: number;
  /** Enhanced status code (RFC 3463), e.g. "5.1.1". */
  readonly enhancedCode: string;
  constructor(responseCode: number, enhancedCode: string, text: string) {
    super(`${enhancedCode} ${text}`);
    this.name = "SmtpError";
    this.responseCode = responseCode;
    this.enhancedCode = enhancedCode;
  }
}
export class TemporaryFailure extends SmtpError {}
export class PermanentFailure extends SmtpError {}

export const tempFail = (code: number, enhanced: string, text: string) => new TemporaryFailure(code, enhanced, text);
export const permFail = (code: number, enhanced: string, text: string) => new PermanentFailure(code, enhanced, text);

export interface DeliveryBackend {
  /** Accepts or refuses MAIL FROM (throw SmtpError). */
  checkSender(address: string, session: SessionInfo, declaredSize: number | undefined): Promise<void>;
  /** Accepts or refuses one RCPT TO (throw SmtpError). `accepted` are the recipients accepted so far. */
  checkRecipient(
    address: string,
    session: SessionInfo,
    accepted: readonly string[],
    declaredSize: number | undefined,
  ): Promise<void>;
  /**
   * Takes the whole message. Resolves only when it is durable (fsynced); the text becomes
   * the 250 reply ("queued as ..."). Throws SmtpError to refuse; any other error is 451 4.3.0.
   * The stream errors (with an SmtpError) if the message breaks a limit: nothing may be kept then.
   */
  deliver(envelope: Envelope, message: Readable): Promise<string>;
  /** AUTH PLAIN/LOGIN (mailservers/core/authenticate.ts). Returns the user, or undefined for bad credentials. */
  authenticate?(username: string, password: string, session: SessionInfo): Promise<string | undefined>;
}
