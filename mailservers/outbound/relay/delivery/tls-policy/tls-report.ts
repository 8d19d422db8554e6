// What TLS-RPT (RFC 8460) will report: per recipient domain and policy, how many sessions
// succeeded and which failures happened (result types of RFC 8460 4.3), counted in memory.
// Also reads an SMTP session's TLS state, to tell a failure an opportunistic session hides.
import type SMTPConnection from "nodemailer/lib/smtp-connection";

export type TlsResultType =
  | "starttls-not-supported"
  | "certificate-host-mismatch"
  | "certificate-expired"
  | "certificate-not-trusted"
  | "validation-failure"
  | "sts-policy-fetch-error"
  | "sts-policy-invalid";

export interface TlsEvent {
  domain: string;
  /** "sts" for a domain with an MTA-STS policy in force (enforce or testing). */
  policy: "sts";
  /** The policy's mode, as TLS-RPT reports it. */
  mode: "enforce" | "testing";
  result: TlsResultType | "success";
  /** The MX host name, when the event is about one. */
  mx?: string;
}

export interface TlsCount extends TlsEvent {
  count: number;
}

export interface TlsReport {
  record(event: TlsEvent): void;
  /** Counts so far, one row per distinct event. */
  counts(): TlsCount[];
}

export function createTlsReport(): TlsReport {
  const rows = new Map<string, TlsCount>();
  return {
    record(event) {
      const key = JSON.stringify([event.domain, event.policy, event.mode, event.result, event.mx ?? null]);
      const row = rows.get(key);
      if (row) row.count++;
      else rows.set(key, { ...event, count: 1 });
    },
    counts: () => [...rows.values()].map((row) => ({ ...row })),
  };
}

/** The failure a TLS error message names (nodemailer passes on only the message). */
export function tlsResultOfError(message: string): TlsResultType {
  if (/upgrading connection with STARTTLS/i.test(message)) return "starttls-not-supported";
  if (/altnames|does not match certificate|ERR_TLS_CERT_ALTNAME_INVALID/i.test(message))
    return "certificate-host-mismatch";
  if (/expired|CERT_HAS_EXPIRED/i.test(message)) return "certificate-expired";
  if (/self[-_ ]signed|unable[_ ]to[_ ](verify|get)|untrusted|not trusted/i.test(message))
    return "certificate-not-trusted";
  return "validation-failure";
}

/** An open session's TLS as an MTA-STS check sees it: success only with STARTTLS and a valid certificate for the name. */
export function tlsResultOfSession(connection: SMTPConnection): TlsResultType | "success" {
  if (!connection.secure) return "starttls-not-supported";
  // nodemailer keeps the TLS socket private; Node sets `authorized` after checking the chain and the name.
  const socket = (connection as unknown as { _socket?: { authorized?: boolean; authorizationError?: unknown } })
    ._socket;
  if (socket?.authorized === true) return "success";
  return tlsResultOfError(String(socket?.authorizationError ?? "certificate not verified"));
}
