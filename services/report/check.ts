// One finding of `semail report`: what was checked, how it stands, and, when it is not OK,
// the fix in one line (Mail-in-a-Box's status page is the model: each line says what to do).

export type CheckStatus = "OK" | "WARN" | "FAIL";

export interface Finding {
  /** The check's family: "dns", "certificate", "queue"... */
  readonly check: string;
  /** What exactly: "MX of alice.semail.test", "mailbox alice". */
  readonly subject: string;
  readonly status: CheckStatus;
  /** What was found. */
  readonly detail: string;
  /** What to do about it; absent when OK. */
  readonly fix?: string;
}

export const ok = (check: string, subject: string, detail: string): Finding => ({
  check,
  subject,
  status: "OK",
  detail,
});

export const warn = (check: string, subject: string, detail: string, fix: string): Finding => ({
  check,
  subject,
  status: "WARN",
  detail,
  fix,
});

export const fail = (check: string, subject: string, detail: string, fix: string): Finding => ({
  check,
  subject,
  status: "FAIL",
  detail,
  fix,
});
