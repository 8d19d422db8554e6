// MAIL FROM per SMTP session, so RCPT can judge a list's posting rule (the backend's RCPT hook
// is not told the sender). Bounded: the oldest is forgotten first, and a sender forgotten is
// judged at DATA instead, where the envelope has it.
const MOST = 4096;

export class SessionSenders {
  readonly #senders = new Map<string, string>();

  note(sessionId: string, sender: string): void {
    this.#senders.delete(sessionId);
    this.#senders.set(sessionId, sender);
    if (this.#senders.size > MOST) this.#senders.delete(this.#senders.keys().next().value!);
  }

  of(sessionId: string): string | undefined {
    return this.#senders.get(sessionId);
  }

  forget(sessionId: string): void {
    this.#senders.delete(sessionId);
  }
}
