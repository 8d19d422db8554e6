// The inbound DeliveryBackend: recipient policy, quota and disk checks, then the mbox
// store, whose typed errors become SMTP replies here (store-replies.ts) and nowhere else.
// Everything it needs comes in as values, so tests build it without a daemon.
// A session that authenticated (587 after STARTTLS, 465) is a submission session instead:
// its sender is checked here at MAIL by outbound's rule (core/own-address.ts), outbound judges
// everything again with its recipients and headers, and its messages go there (submission-handoff.ts).
// A mailbox on another SEMail host has its mail handed to that host (hand-on.ts), alone in its
// transaction; one being moved gets 451 4.2.1 (recipients.ts), at RCPT and again at DATA.
import { statfs } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { UsersList } from "../../config/users-list.ts";
import { SmtpError, permFail, tempFail, type DeliveryBackend, type Envelope, type SessionInfo } from "../core/types.ts";
import type { Authenticator } from "../core/authenticate.ts";
import { checkSubmissionSender } from "../core/own-address.ts";
import type { MboxStore, StoreTarget } from "./store/index.ts";
import { storeReply } from "./store-replies.ts";
import type { Handoff } from "./submission-handoff.ts";
import type { SpamCheck } from "./spam/index.ts";
import type { ArrivalAuth } from "./auth/index.ts";
import { FormerDomains, resolveRecipient, type AdminMailbox, type ResolvedRecipient } from "./recipients.ts";
import type { Srs } from "../core/srs.ts";
import type { Forwarder, ForwardingTarget } from "./forward/forwarder.ts";
import { createForwardRoutes } from "./forward/forward-routes.ts";
import type { ListPosts } from "./lists/list-posts.ts";
import type { HandOn } from "./hand-on.ts";

export interface InboundBackendOptions {
  /** The current users list (reloaded behind this function). */
  readonly users: () => UsersList;
  readonly managedDomain: string;
  /** The admin mailbox for the current list. */
  readonly admin: (users: UsersList) => AdminMailbox;
  readonly store: MboxStore;
  readonly mailRoot: string;
  /** Free bytes the mail root must keep; below that MAIL gets 452 4.3.1. */
  readonly minFreeSpace: number;
  readonly logger: Logger;
  /** Free bytes on the mail root's filesystem (tests replace it). */
  readonly freeSpace?: (path: string) => Promise<number>;
  /** Milliseconds since the epoch, for the free-space cache (tests move it). */
  readonly clock?: () => number;
  /** AUTH on the submission listeners, and where an authenticated session's messages go; absent: no submission. */
  readonly submission?: { readonly authenticate: Authenticator; readonly handoff: Handoff };
  /** SPF, DKIM, DMARC and ARC checks of each message, and its DMARC verdict (auth/); absent: none. */
  readonly arrival?: ArrivalAuth;
  /** Rspamd's verdict before the final 250 (inbound.rspamd); absent: no spam check. */
  readonly spam?: SpamCheck;
  /** Told how long each message took the store, from reading to every copy synced (the daemon's metrics). */
  readonly onStored?: (seconds: number) => void;
  /** Forwards and bounces returned to our SRS addresses, handed to outbound (forward/); absent: forwards are stored only. */
  readonly forwarding?: { readonly forwarder: Forwarder; readonly srs: Srs };
  /** Mailing lists from the directory (lists/); absent: inbound.lists.enabled is off. */
  readonly lists?: ListPosts;
  /** This host's name among the SEMail hosts (settings.hostName); absent: MAIN_HOST. */
  readonly hostName?: string;
  /** Where mail for mailboxes on other hosts goes; absent: they are refused 451 4.3.0 (no hosts known). */
  readonly handOn?: HandOn;
}

async function statfsFree(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

export function createInboundBackend(options: InboundBackendOptions): DeliveryBackend {
  const freeSpace = options.freeSpace ?? statfsFree;
  const { store, logger } = options;
  // One statfs a second is plenty for a "nearly full" check.
  let free: { at: number; bytes: Promise<number> } | undefined;
  const freeBytes = (): Promise<number> => {
    const now = (options.clock ?? Date.now)();
    if (!free || now - free.at > 1000) {
      const bytes = freeSpace(options.mailRoot);
      free = { at: now, bytes };
      bytes.catch(() => {
        free = undefined;
      });
    }
    return free.bytes;
  };

  const formerDomains = new FormerDomains(options.clock ? { clock: options.clock } : {});
  const resolve = (address: string): ResolvedRecipient | SmtpError => {
    const users = options.users();
    formerDomains.follow(users);
    return resolveRecipient(address, {
      users,
      managedDomain: options.managedDomain,
      admin: options.admin(users),
      formerDomains,
      now: (options.clock ?? Date.now)(),
      ...(options.hostName !== undefined ? { hostName: options.hostName } : {}),
    });
  };
  const { forwarding } = options;
  const routes = createForwardRoutes(forwarding?.srs, options.managedDomain, resolve);
  const handOnTo = (host: string): HandOn => {
    if (options.handOn) return options.handOn;
    logger.error({ host, setting: `hosts.${host}` }, "a mailbox is on another host, and no hosts are known here");
    throw tempFail(451, "4.3.0", "Mailbox server not configured here, try again later");
  };

  /** Rethrows a store failure as its SMTP reply. */
  const reply = (error: unknown, id?: string): never => {
    throw storeReply(error, logger, id);
  };

  const { submission } = options;
  // Outbound answers for these at DATA (its replies passed on), with every rule of its own.
  const submitting = (session: SessionInfo) => session.user !== undefined;

  return {
    ...(submission ? { authenticate: submission.authenticate } : {}),

    async checkSender(address: string, session: SessionInfo, declaredSize: number | undefined) {
      // Outbound's own rule, answered here at MAIL: a client is not made to upload a body first.
      if (submitting(session)) return checkSubmissionSender(address, session.user!, options.users());
      options.lists?.noteSender(session, address);
      let bytes: number;
      try {
        bytes = await freeBytes();
      } catch (err) {
        logger.error({ err, mailRoot: options.mailRoot }, "cannot stat the mail root");
        throw tempFail(451, "4.3.0", "Mail store unavailable, try again later");
      }
      if (bytes - (declaredSize ?? 0) < options.minFreeSpace) {
        logger.warn({ free: bytes, minFreeSpace: options.minFreeSpace }, "mail root nearly full");
        throw tempFail(452, "4.3.1", "Insufficient system storage, try again later");
      }
    },

    async checkRecipient(
      address: string,
      session: SessionInfo,
      accepted: readonly string[],
      declaredSize: number | undefined,
    ) {
      if (submitting(session)) return;
      const target = resolve(address);
      routes.checkAlone(address, accepted, target);
      if (routes.isReturnAddress(address)) return;
      // No mailbox has it: maybe a list (lists/list-posts.ts), whose members are checked at DATA.
      if (target instanceof SmtpError && options.lists?.acceptList(address, session, accepted, target)) return;
      if (target instanceof SmtpError) throw target;
      options.lists?.checkNotMixed(accepted);
      // Its host answers for its room when the message is handed on: nothing to look at here.
      if (target.elsewhere !== undefined) return handOnTo(target.elsewhere).check(target.elsewhere);
      // Listed, but its filesystem is not mounted yet: storing now would put the mail on
      // the VM's own disk and block the mount. The sender retries; other recipients go on.
      if (!(await store.provisioned(target.owner).catch((error: unknown) => reply(error)))) {
        logger.info({ recipient: address, owner: target.owner }, "mailbox root not provisioned yet: 450");
        throw tempFail(450, "4.2.1", `<${address}>: mailbox is being set up; try again later`);
      }
      // Sent on and not kept: its room does not matter (junk, kept instead of sent, is checked at DATA).
      if (forwarding && target.forward && !target.forward.rule.keepCopy) return;
      // Both copies, within the quota and on the mailbox's own filesystem (store/roots/room.ts).
      const largest = await store.largestMessage(target.owner, target.quota).catch((error: unknown) => reply(error));
      // Not even a small message fits: full for now; reading or deleting mail makes room.
      if (largest === 0) throw tempFail(452, "4.2.2", "Mailbox full, try again later");
      // Told before the message is sent: no room for it now, so the sender gets it back at once.
      if (declaredSize !== undefined && declaredSize > largest) {
        throw permFail(552, "5.2.2", `<${address}>: message too big for this mailbox now (SIZE=${declaredSize})`);
      }
    },

    async deliver(envelope: Envelope, message: Readable): Promise<string> {
      if (submitting(envelope.session)) {
        if (!submission) throw tempFail(451, "4.3.0", "Temporary local problem, please try again later");
        return submission.handoff(envelope, message);
      }
      if (forwarding && envelope.recipients.every((r) => routes.isReturnAddress(r)))
        return forwarding.forwarder.returnToSender(envelope, message);
      // A bounce to a list's bounce address: counted, not stored (lists/list-bounces.ts).
      const bounce = options.lists?.bounce(envelope);
      if (bounce) return bounce(message, (error) => reply(error, envelope.id));
      let forwardingTarget: ForwardingTarget | undefined;
      const post = options.lists?.post(envelope);
      if (post?.refusal) {
        message.resume();
        throw post.refusal;
      }
      // The list may have changed since RCPT: resolve again; a mailbox removed meanwhile is skipped.
      // One copy per mailbox: postmaster@ and abuse@ of several domains share the admin
      // mailbox, which gets the message once (Delivered-To: the first of them).
      const copies = post
        ? await post.copies().catch((error: unknown) => {
            message.resume();
            if (error instanceof SmtpError) throw error;
            return reply(error, envelope.id);
          })
        : undefined;
      const targets: StoreTarget[] = copies ? [...copies.local] : [];
      const owners = new Set<string>();
      let elsewhere: { readonly host: string; readonly handOn: HandOn } | undefined;
      for (const recipient of post ? [] : envelope.recipients) {
        const target = resolve(recipient);
        // Moving since RCPT: stored nowhere, the whole message retried (skipping it would lose it).
        if (target instanceof SmtpError && target.responseCode < 500) {
          message.resume();
          throw target;
        }
        if (target instanceof SmtpError)
          logger.warn({ id: envelope.id, recipient }, "recipient left the users list during the transaction; skipped");
        else if (target.elsewhere !== undefined) {
          // On another host since RCPT, beside others: the sender sends again, and RCPT sorts them.
          if (envelope.recipients.length > 1) {
            message.resume();
            throw tempFail(451, "4.3.0", "Recipients changed during the transaction, try again");
          }
          elsewhere = { host: target.elsewhere, handOn: handOnTo(target.elsewhere) };
        } else if (!owners.has(target.owner)) {
          owners.add(target.owner);
          targets.push({ owner: target.owner, recipient: target.address, quota: target.quota });
          if (target.forward)
            forwardingTarget = { ...targets.at(-1)!, mailbox: target.forward.mailbox, forward: target.forward.rule };
        }
      }
      // A list's post may have only members on other servers.
      if (targets.length === 0 && !copies && !elsewhere) {
        message.resume();
        throw tempFail(451, "4.3.0", "Recipients changed during the transaction, try again");
      }
      // Handed to us by a peer (hand-on.ts): into Junk if it judged so, and never handed on again.
      const received = options.handOn
        ? await options.handOn.received(envelope, message).catch((error: unknown) => reply(error, envelope.id))
        : { message };
      const { handedOn } = received;
      // Authentication on arrival (auth/): a DMARC p=reject failure is refused (550 5.7.1) with
      // nothing stored; the rest is stored with our Authentication-Results, p=quarantine's into Junk.
      const judged = options.arrival
        ? await options.arrival(envelope, received.message).catch((error: unknown) => reply(error, envelope.id))
        : undefined;
      try {
        if (judged?.verdict.action === "reject")
          throw permFail(550, "5.7.1", `Message refused: ${judged.verdict.reason}`);
        const forged = post?.unauthenticated(judged?.results);
        if (forged) throw forged;
        const arrived = judged ? judged.stream() : received.message;
        const quarantined = judged?.verdict.action === "junk" || handedOn?.junk === true;
        // Checked here, where the sender connected (its SPF names this host's client, not ours):
        // handed on with our Authentication-Results and verdict; its host does not check its peers again.
        if (elsewhere)
          return await elsewhere.handOn.send(envelope, elsewhere.host, arrived, {
            junk: quarantined,
            ...(handedOn ? { handedOn } : {}),
          });
        // Refused as spam (550 5.7.1) with nothing stored, or stored with the score in its headers, maybe into Junk.
        const checked = options.spam ? await options.spam.check(envelope, arrived) : undefined;
        const junk = checked?.junk === true || quarantined;
        const storing = performance.now();
        const stored = checked?.message ?? arrived;
        // Junk is not sent on (our name on spam elsewhere): it stays in the mailbox's Junk folder.
        if (forwarding && forwardingTarget && targets.length === 1 && !junk)
          return await forwarding.forwarder.forward(envelope, forwardingTarget, stored, (error) =>
            reply(error, envelope.id),
          );
        const storeCopies = async (to: readonly StoreTarget[], bytes: Readable) => {
          await store.deliver(envelope, [...to], bytes, { junk }).catch((error: unknown) => reply(error, envelope.id));
          options.onStored?.((performance.now() - storing) / 1000);
        };
        // A list's post: its local copies stored, then its remote members' copy handed to outbound.
        if (post && copies) return await post.deliver(copies, stored, junk, storeCopies);
        await storeCopies(targets, stored);
      } finally {
        await judged?.release();
      }
      return `Ok: stored as ${envelope.id}`;
    },
  };
}
