// The contract between the web form and whatever brings the system in line with the
// users list: the Pulumi Automation API in production, direct steps in local mode.
import type { Logger } from "pino";
import type { TransportSecurity } from "./stack/transport-security.ts";
import type { UsersList } from "./users-list.ts";

export interface ApplyContext {
  /** The users list as it is on disk when this apply starts (every earlier write included). */
  readonly list: UsersList;
  readonly logger: Logger;
  /** Aborted when the web form shuts down; an applier should stop early if it can. */
  readonly signal: AbortSignal;
  /** Tells the page what the apply is doing now (the engine's last resource line). */
  readonly progress?: (line: string) => void;
}

export interface Applier {
  /** A short name for logs and the status page ("pulumi", "local", "none"). */
  readonly name: string;
  /**
   * Makes the system match `context.list`. Resolves when done; rejects with an Error whose
   * message is a plain-words reason fit to show an administrator (no stack trace).
   */
  apply(context: ApplyContext): Promise<void>;
  /**
   * The exact command that opens `owner`'s shell in their container (`ssh -J semail-jump@VM
   * owner@CONTAINER`), as the last deployment made it; undefined when there is none (yet).
   * Only an applier that deploys containers has it.
   */
  sshCommand?(owner: string): Promise<string | undefined>;
  /** The webmail the last deployment runs (its https URL); undefined when it runs none (or is not known). */
  webmailUrl?(): Promise<string | undefined>;
  /**
   * The MTA-STS and TLS-RPT settings the deployment publishes (the Pulumi stack's config), so
   * the records the form shows an external domain's owner carry the served policy's id.
   * Without it the form uses SEMail's defaults, which local mode publishes.
   */
  transportSecurity?(): Promise<TransportSecurity>;
  /**
   * What is kept of `owner`'s deleted mailbox (its filesystem, with the mail), if anything:
   * the form asks an owner who makes a mailbox again what to do with it. Only an applier
   * that can tell has it.
   */
  keptMail?(owner: string): Promise<KeptMail | undefined>;
  /**
   * Carries out the owner's answer before their new mailbox `address` is listed: "restore"
   * gives it the kept mail, "set-aside" renames the kept mail aside (never deletes it), so
   * the mailbox starts empty. Rejects with a plain-words reason when it cannot now.
   */
  decideKeptMail?(owner: string, address: string, choice: KeptMailChoice): Promise<void>;
}

/** The filesystem a deleted mailbox leaves. */
export interface KeptMail {
  /** The address it was made for, when recorded. */
  readonly address?: string;
  /** Its size in bytes, when known. */
  readonly bytes?: number;
  /** Still mounted: the deletion is being applied. */
  readonly inUse: boolean;
}

export type KeptMailChoice = "restore" | "set-aside";

export type ApplyState = "idle" | "queued" | "applying" | "done" | "failed";

export interface ApplyStatus {
  /** idle: nothing asked yet; queued: waiting to start; applying; done; failed (see reason). */
  readonly state: ApplyState;
  /** Why the last apply failed (state failed). */
  readonly reason?: string;
  /** What the running apply does now, as its applier reports it (state applying). */
  readonly progress?: string;
  /** True while an apply runs and another one is already waiting to follow it. */
  readonly pending: boolean;
  /** Number of change requests so far, and how many of them the last successful apply covered. */
  readonly requested: number;
  readonly applied: number;
  /** Milliseconds since the epoch (injected clock) of the last state change. */
  readonly since: number;
}
