// The login of an authenticated session, kept for a backend that must log in elsewhere as
// the same user (inbound hands a submission to outbound with it). It lives only in the
// session's memory: the password is a private field, so no log line, JSON or inspect
// of a session ever shows it.
import { inspect } from "node:util";

export class SessionCredentials {
  /** The authenticated uid (the login as the directory knows it). */
  readonly user: string;
  readonly #password: string;

  constructor(user: string, password: string) {
    this.user = user;
    this.#password = password;
  }

  get password(): string {
    return this.#password;
  }

  toJSON(): { user: string } {
    return { user: this.user };
  }

  [inspect.custom](): string {
    return `SessionCredentials { user: ${JSON.stringify(this.user)} }`;
  }
}
