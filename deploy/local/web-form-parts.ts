// What local mode hands the web form it runs, and what it needs back. The form is an
// application beside this deployer (webform/), so the caller starts it over these parts.
import type { Logger } from "pino";
import type { Applier, ApplyStatus } from "../../config/applier.ts";
import type { MailClientServers } from "../../config/mail-clients.ts";
import type { Settings } from "../../config/settings.ts";
import type { TransportSecurity } from "../../config/stack/transport-security.ts";
import type { LocalDns } from "./local-dns.ts";

/** How an owner reads their mail here: their container's SSH line, or the mbox file. */
export type LocalReading =
  | { readonly kind: "ssh"; readonly command: string }
  | { readonly kind: "files"; readonly inbox: string };

export interface LocalWebFormParts {
  readonly settings: Settings;
  /** Local mode's applier (tracked: the form's own writes are known). */
  readonly applier: Applier;
  /** The webmail runs (root): the mailbox page may link to it. */
  readonly webmailRuns: boolean;
  readonly mailClients: MailClientServers;
  /** The MTA-STS and TLS-RPT settings local mode's zone publishes: the form shows an external domain the same. */
  readonly transport: TransportSecurity;
  readonly logger: Logger;
  readonly usage: (owner: string) => Promise<number | undefined>;
  readonly largestMessage: (owner: string) => Promise<number | undefined>;
  readonly reading: (owner: string) => Promise<LocalReading | undefined>;
  /** A claimed domain's stand-in zone is served before each look for its proof. */
  readonly dns: LocalDns;
  readonly claimZones: { readonly dir: string; readonly mxHost: string };
}

export interface LocalWebForm {
  /** The form's apply runner: local mode asks it for the first apply and on SIGHUP. */
  readonly runner: {
    request(why: string): void;
    idle(): Promise<void>;
    status(): ApplyStatus;
  };
  close(): Promise<void>;
}
