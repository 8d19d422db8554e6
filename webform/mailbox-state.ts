// What the mailbox page shows that changes without its owner doing anything, asked of the
// parts that know: the MX check of an external domain, how the owner reads mail (the SSH
// line, once the container is made), the state of a claim's proof. Gathered the same way
// for the page and for the status script that follows it (/status.json?follow).
import type { MailboxEntry } from "../config/users-list.ts";
import type { WebContext } from "./context.ts";
import type { Reading } from "./mail-access.ts";
import { followedPart, type FollowedPart, type HomeOptions, type Viewer } from "./pages.ts";

/** How long a page waits for the SSH line (on the first ask it runs the Pulumi CLI) before showing it as not known yet. */
const READING_WAIT_MS = 3000;

async function readingOf(ctx: WebContext, owner: string): Promise<Reading | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, READING_WAIT_MS, undefined);
  });
  try {
    return await Promise.race([ctx.mailAccess.reading(owner).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The page's options for the parts of `m`'s page that change by themselves. */
export async function changingParts(
  ctx: WebContext,
  m: MailboxEntry,
): Promise<Pick<HomeOptions, "mxCheck" | "access" | "proof">> {
  const live = m.pendingProof === undefined;
  const [mxCheck, reading] = await Promise.all([
    m.kind === "external" ? ctx.mxCheck(m.domain) : undefined,
    live ? readingOf(ctx, m.owner) : undefined,
  ]);
  const { submission, webmailUrl } = ctx.mailAccess;
  return {
    ...(mxCheck ? { mxCheck } : {}),
    ...(live
      ? {
          access: {
            submission,
            ...(webmailUrl ? { webmailUrl } : {}),
            ...(reading ? { reading } : {}),
            mailClients: ctx.mailClients,
          },
        }
      : {}),
    ...(m.pendingProof !== undefined ? { proof: ctx.proofs.state(m.owner, m.pendingProof) } : {}),
  };
}

/** The followed part of `viewer`'s mailbox page as it is now; undefined when they have no mailbox (the create form follows nothing). */
export async function followedNow(ctx: WebContext, viewer: Viewer): Promise<FollowedPart | undefined> {
  const m = (await ctx.store.read()).byOwner(viewer.uid);
  if (m === undefined) return undefined;
  const options: HomeOptions = {
    viewer,
    managedDomain: ctx.options.managedDomain,
    mxHost: ctx.mxHost,
    mailClientPorts: ctx.mailClients.ports,
    transport: ctx.transport,
    status: ctx.runner.status(),
    ...(await changingParts(ctx, m)),
  };
  return followedPart(options, m);
}
