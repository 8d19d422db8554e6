// `semail mailbox move ID --to HOST` as steps: the target's filesystem made (when the settings
// say how), check, first copy while mail arrives, the switch (the lists say "moving": every host
// answers 451 and the sender retries), the wait for the daemon here to let go, then with the
// mbox files here held under their dotlocks (IMAP writes wait) the final copy and its
// byte-for-byte check, the handover (the lists say the target: it stores from then on, and this
// host hands on what still reaches it) and the owner's IMAP sessions here closed; the source's
// files removed when asked. A failure before the handover puts the lists back and empties the
// target's copy: the mailbox stays here, and no accepted message is lost.
import type { Logger } from "pino";
import { usersListOptions, type Settings } from "../../config/settings.ts";
import { loadUsersList } from "../../config/users-file.ts";
import type { UsersListOptions } from "../../config/users-list.ts";
import { checkRoots } from "./check-roots.ts";
import { withSourceHeld } from "./hold-source.ts";
import { kickImapSessions, type ImapKick } from "./kick-imap.ts";
import { listFilesOf, type ListFile } from "./list-files.ts";
import { CLEAR_ROOT } from "./mailbox-files.ts";
import { MoveError } from "./move-error.ts";
import { runAt } from "./place.ts";
import { placementIn, setPlacement, type Placement } from "./placement.ts";
import { planMove, type MovePlan } from "./plan.ts";
import { provisionTarget } from "./provision.ts";
import { waitForRelease } from "./released.ts";
import { withSharedSsh } from "./ssh-master.ts";
import { copyMailbox } from "./rsync.ts";
import { verifyCopy } from "./verify.ts";

export interface MoveRequest {
  /** The mailbox: its owner (LDAP uid) or its address. */
  readonly id: string;
  /** The host to move it to (a key of settings hosts). */
  readonly to: string;
  /** How long to wait for the daemon here to let go of the mailbox (ms). */
  readonly waitMs: number;
  /** Delete the mail here after the handover (the root itself stays: it may be a mount point). */
  readonly removeSource: boolean;
}

export interface MoveDependencies {
  readonly logger: Logger;
  /** ssh and its options before a move's own (tests give a key and a known_hosts file). */
  readonly sshCommand?: readonly string[];
  /** Aborted: the move stops before the handover and puts everything back (the command's SIGINT). */
  readonly signal?: AbortSignal;
  /** mailbox-fs.sh on the target, as a command (default where the program installs it: provision.ts). */
  readonly mailboxFs?: readonly string[];
}

export interface MoveResult {
  readonly owner: string;
  readonly address: string;
  readonly from: string;
  readonly to: string;
  /** The mailbox as the final copy found it: regular files and bytes. */
  readonly files: number;
  readonly bytes: number;
  readonly firstCopyMs: number;
  /** From the switch's first write to the handover's last: while the mailbox answered 451. */
  readonly heldMs: number;
  readonly waitMs: number;
  readonly finalCopyMs: number;
  readonly verifyMs: number;
  readonly totalMs: number;
  readonly sourceRemoved: boolean;
  /** Whether the move ran mailbox-fs.sh create on the target (hosts.<name>.storage is set). */
  readonly provisioned: boolean;
  /** The owner's IMAP sessions here after the handover. */
  readonly imap: ImapKick;
}

/** Runs `step`, returning its value and how long it took. */
async function timed<T>(step: () => Promise<T>): Promise<[T, number]> {
  const start = Date.now();
  const value = await step();
  return [value, Date.now() - start];
}

/** The lists, the placements and the logger every step after the check shares. */
interface Move {
  readonly plan: MovePlan;
  readonly files: readonly ListFile[];
  readonly options: UsersListOptions;
  readonly log: Logger;
  readonly home: Placement;
  readonly moving: Placement;
  readonly there: Placement;
  readonly signal?: AbortSignal;
  /** The longest wait for a dotlock here (setting inbound.lockTimeout), and Dovecot's directory (imap.stateDir). */
  readonly lockTimeoutMs: number;
  readonly imapStateDir: string;
}

export async function moveMailbox(
  settings: Settings,
  request: MoveRequest,
  deps: MoveDependencies,
): Promise<MoveResult> {
  const started = Date.now();
  const options = usersListOptions(settings);
  let plan: MovePlan | undefined;
  return await withSharedSsh(
    deps.sshCommand ?? ["ssh"],
    async (sshCommand) => {
      plan = planMove(settings, await loadUsersList(settings.users, options), request.id, request.to, sshCommand);
      return await movePlanned(settings, plan, request, deps, started);
    },
    () => (plan ? [plan.target] : []),
  );
}

/** The steps after the plan: check, copy and switch, hand over, remove or keep the source. */
async function movePlanned(
  settings: Settings,
  plan: MovePlan,
  request: MoveRequest,
  deps: MoveDependencies,
  started: number,
): Promise<MoveResult> {
  const { owner, address } = plan.entry;
  const log = deps.logger.child({ owner, from: plan.source.host, to: plan.target.host });
  const provisioned = await provisionTarget(plan, deps.mailboxFs, deps.signal);
  if (provisioned) log.info({ step: "provision", target: plan.targetRoot }, "the target's mailbox filesystem is there");
  await checkRoots(plan);
  log.info({ step: "check", source: plan.sourceRoot, target: plan.targetRoot }, "checked: the target holds no mail");
  const move: Move = {
    plan,
    files: listFilesOf(plan.users, plan.target, plan.targetUsers),
    options: usersListOptions(settings),
    log,
    home: { host: plan.source.host },
    moving: { host: plan.source.host, moving: plan.target.host },
    there: { host: plan.target.host },
    ...(deps.signal ? { signal: deps.signal } : {}),
    lockTimeoutMs: settings.inbound.lockTimeout,
    imapStateDir: settings.imap.stateDir,
  };
  const switched = await copyAndSwitch(move, request.waitMs);
  const held = await holdAndHandOver(move, switched.since);
  if (request.removeSource) {
    await runAt(plan.source, CLEAR_ROOT, [plan.sourceRoot, "bare"]);
    log.info({ step: "remove source", root: plan.sourceRoot }, "the mail here is removed");
  } else log.info({ step: "keep source", root: plan.sourceRoot }, "the mail here is kept until the program removes it");
  return {
    owner,
    address,
    from: plan.source.host,
    to: plan.target.host,
    files: held.final.files,
    bytes: held.final.bytes,
    firstCopyMs: switched.firstCopyMs,
    heldMs: held.heldMs,
    waitMs: switched.waitMs,
    finalCopyMs: held.finalCopyMs,
    verifyMs: held.verifyMs,
    totalMs: Date.now() - started,
    sourceRemoved: request.removeSource,
    provisioned,
    imap: held.imap,
  };
}

/** Stops the move before the handover when the operator asked (SIGINT, SIGTERM). */
function stopIfAsked(move: Move): void {
  if (move.signal?.aborted) throw new MoveError("stopped by a signal before the handover");
}

/**
 * The first copy, the switch and the wait for the daemon here to let go; on any failure (or a
 * stop) the lists go back and the target's copy is emptied.
 */
async function copyAndSwitch(move: Move, waitMs: number) {
  const { plan, options, log, signal } = move;
  const owner = plan.entry.owner;
  const written: ListFile[] = [];
  try {
    const [first, firstCopyMs] = await timed(() => copyMailbox(plan, "first", signal));
    log.info({ step: "first copy", ...first, ms: firstCopyMs }, "first copy done while mail kept arriving");
    stopIfAsked(move);
    const since = Date.now();
    for (const file of move.files) {
      await setPlacement(file, options, owner, move.home, move.moving);
      written.push(file);
    }
    log.info({ step: "switch", lists: move.files.map((f) => f.where) }, "lists say moving: new mail gets 451");
    const want = { owner, host: plan.source.host, to: plan.target.host, since };
    const [released, waited] = await timed(() => waitForRelease(plan.releasedFile, want, waitMs, signal));
    stopIfAsked(move);
    if (!released)
      throw new MoveError(
        `the inbound daemon here did not let go of ${owner} within ${waitMs} ms (no ${plan.releasedFile}): check that \`semail inbound\` runs here with the users list ${plan.users} (setting users) and a version that knows moves, or give it longer (--wait)`,
      );
    log.info({ step: "released", at: released.at, ms: waited }, "the daemon here let go of the mailbox");
    return { first, firstCopyMs, waitMs: waited, since };
  } catch (error) {
    throw await undone(move, written, error);
  }
}

/**
 * With the mbox files here held (a reader's write waits): the final copy and its check, the
 * handover, the owner's IMAP sessions here closed; the locks go after. A failure before the
 * handover (the locks not had in time included) puts the lists back and empties the copy.
 */
async function holdAndHandOver(move: Move, since: number) {
  const { plan, log } = move;
  let holding = false;
  try {
    return await withSourceHeld(plan.sourceRoot, plan.entry.owner, move.lockTimeoutMs, async () => {
      holding = true;
      log.info({ step: "hold" }, "the mbox files here are held under their dotlocks");
      const [final, finalCopyMs, verifyMs] = await finalCopy(move);
      await handOver(move);
      const heldMs = Date.now() - since;
      log.info({ step: "handover", ms: heldMs }, `the mailbox is on host ${plan.target.host} now`);
      const imap = await kickImapSessions(move.imapStateDir, plan.entry.owner);
      if (imap.startsWith("failed")) log.warn({ step: "imap", imap }, "could not close the IMAP sessions here");
      else log.info({ step: "imap", imap }, "the owner's IMAP sessions here");
      return { final, finalCopyMs, verifyMs, heldMs, imap };
    });
  } catch (error) {
    // Once held, every failure was undone (or said what is left) where it happened.
    if (holding) throw error;
    throw await undone(move, move.files, error);
  }
}

/** The final copy (--delete --checksum) and its byte-for-byte check; a failure is undone. */
async function finalCopy(move: Move) {
  const { plan, log, signal } = move;
  try {
    stopIfAsked(move);
    const [final, finalCopyMs] = await timed(() => copyMailbox(plan, "final", signal));
    log.info({ step: "final copy", ...final, ms: finalCopyMs }, "final copy done");
    const [compared, verifyMs] = await timed(() => verifyCopy(plan, signal));
    log.info({ step: "verify", files: compared, ms: verifyMs }, "every file is the same on both hosts (sha256)");
    stopIfAsked(move);
    return [final, finalCopyMs, verifyMs] as const;
  } catch (error) {
    throw await undone(move, move.files, error);
  }
}

/**
 * The handover: our list first (this host then hands the mail on, and the target, whose list
 * still says moving, answers 451), then the target's (it stores from then on). A target's list
 * that could not be written is read back: written after all, the move is done; still moving,
 * everything is put back; unreadable, both stay as they are (451, nothing lost) and we say so.
 */
async function handOver(move: Move): Promise<void> {
  const { plan, files, options, log } = move;
  const [ours, ...theirs] = files;
  try {
    await setPlacement(ours!, options, plan.entry.owner, move.moving, move.there);
  } catch (error) {
    throw await undone(move, files, error);
  }
  for (const file of theirs) {
    try {
      await setPlacement(file, options, plan.entry.owner, move.moving, move.there);
    } catch (error) {
      const now = await placementIn(file, options, plan.entry.owner);
      if (now?.host === plan.target.host && now.moving === undefined) continue;
      if (now?.moving === plan.target.host) {
        log.warn({ step: "handover", list: file.where, err: (error as Error).message }, "putting everything back");
        await setPlacement(ours!, options, plan.entry.owner, move.there, move.moving).catch(() => undefined);
        throw await undone(move, files, error);
      }
      throw new MoveError(
        `the handover is half done: ${ours!.where} says ${plan.entry.owner} is on host ${plan.target.host}, but ${file.where} could neither be written nor read (${(error as Error).message}): write "host: ${plan.target.host}" without "moving" for ${plan.entry.owner} there. Until then its mail gets 451 and waits with its senders; none is lost`,
      );
    }
  }
}

/**
 * After a failure before the handover: each list that says moving goes back to this host,
 * and the target's copy is emptied (it was empty before, and nothing stores there before the
 * handover), so the move can run again. Returns the error to throw, with what could not be undone.
 */
async function undone(move: Move, written: readonly ListFile[], error: unknown): Promise<Error> {
  const { plan, options, log } = move;
  const left: string[] = [];
  // Every list, not only those written: a write that failed (ssh lost after the rename) may have landed.
  for (const file of move.files)
    await setPlacement(file, options, plan.entry.owner, move.moving, move.home).catch((e: unknown) => {
      if (written.includes(file))
        left.push(
          `${file.where} still says moving (${(e as Error).message}): drop "moving" from ${plan.entry.owner} there`,
        );
    });
  await runAt(plan.target, CLEAR_ROOT, [plan.targetRoot, "provisioned"]).catch((e: unknown) =>
    left.push(`the partial copy at ${plan.targetRoot} on host ${plan.target.host} is left (${(e as Error).message})`),
  );
  log.error({ step: "undo", err: (error as Error).message, left }, "move failed; the mailbox stays here");
  const message = `${(error as Error).message}. The mailbox stays on host ${plan.source.host}${written.length > 0 ? " (the lists say so again)" : ""}`;
  return new MoveError(left.length > 0 ? `${message}; but ${left.join("; ")}` : message);
}
