// What the SMTP front end tells whoever keeps count (metrics.ts): each session let in, each
// refusal with the stage it came at, each message accepted, each AUTH outcome. Without
// metrics the silent observer is used, so the front end never asks whether anyone listens.
import type { SmtpError } from "./types.ts";

/** Where in a session a reply was given. */
export type SmtpStage = "CONNECT" | "AUTH" | "MAIL" | "RCPT" | "DATA";

/** ok: 235; failed: 535 (wrong credentials); unavailable: 454 (the directory could not say). */
export type AuthOutcome = "ok" | "failed" | "unavailable";

export interface SmtpObserver {
  connected(): void;
  refused(stage: SmtpStage, reply: SmtpError): void;
  accepted(bytes: number): void;
  authenticated(outcome: AuthOutcome): void;
}

export const SILENT_OBSERVER: SmtpObserver = {
  connected: () => undefined,
  refused: () => undefined,
  accepted: () => undefined,
  authenticated: () => undefined,
};
