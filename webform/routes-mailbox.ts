// A user's own mailbox: view it, create the one they may have, delete it after a confirmation.
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { MailboxEntry } from "../config/users-list.ts";
import { currentSession, field, postSession, sendPage, viewerOf, type WebContext } from "./context.ts";
import { planAddAlias, planRemoveAlias } from "./alias-rules.ts";
import { planOwnExpiry } from "./expiry-rules.ts";
import { planForward, planRemoveForward } from "./forward-rules.ts";
import { planAddKey, planCreate, planDelete, planRemoveKey, type CreateRequest } from "./mailbox-rules.ts";
import { changingParts, followedNow } from "./mailbox-state.ts";
import {
  confirmDeletePage,
  homePage,
  messagePage,
  statusLabel,
  type ChangeNotice,
  type CreateFormValues,
} from "./pages.ts";
import { keptMailFieldset, keptMailOf, settleKeptMail } from "./kept-mail.ts";
import { Refusal } from "./refusal.ts";
import type { Session } from "./sessions.ts";

/** How long the answer to a claim waits for the claim's first proof check before it shows the page anyway. */
const FIRST_CHECK_WAIT_MS = 1500;
/** What the page's notice becomes when the status script sees the claim go live. */
const LIVE_NOTICE = "The domain is proven: your mailbox is live.";

// A notice about a change still being applied follows the apply status (pages.ts ChangeNotice).
const NOTICES: Record<string, string | ChangeNotice> = {
  created: {
    applying: "Your mailbox is created. The change is being applied; the status below follows it.",
    done: "Your mailbox is created and set up: see below how to use it.",
    failed:
      "Your mailbox is created, but setting it up failed; the status below says why. The next change tries again.",
  },
  proven: {
    applying: "The domain is proven: your mailbox is live. The change is being applied; the status below follows it.",
    done: "The domain is proven: your mailbox is live and set up.",
    failed:
      "The domain is proven, but setting up your mailbox failed; the status below says why. The next change tries again.",
  },
  "key-added": {
    applying: "The key is added. The change is being applied; it opens your container once the status below says done.",
    done: "The key is added and opens your container.",
    failed: "The key is added, but applying the change failed; the status below says why. The next change tries again.",
  },
  "key-removed": {
    applying:
      "The key is removed. The change is being applied; it stops opening your container once the status below says done.",
    done: "The key is removed and no longer opens your container.",
    failed:
      "The key is removed from the list, but applying the change failed, so it may still open your container; the status below says why.",
  },
  "alias-added": {
    applying: "The alias is added. The change is being applied; mail to it arrives once the status below says done.",
    done: "The alias is added: mail to it lands in your mailbox, and you may send as it.",
    failed:
      "The alias is added to the list, but applying the change failed, so its mail may not arrive yet; the status below says why. The next change tries again.",
  },
  "alias-removed": {
    applying:
      "The alias is removed. The change is being applied; mail to it is refused once the status below says done.",
    done: "The alias is removed: mail to it is refused.",
    failed:
      "The alias is removed from the list, but applying the change failed, so its mail may still arrive; the status below says why.",
  },
  "forward-set": {
    applying: "The forward is set. The change is being applied; mail goes on once the status below says done.",
    done: "The forward is set: your mail goes on to the address below.",
    failed: "The forward is set in the list, but applying the change failed; the status below says why.",
  },
  "forward-removed": {
    applying: "The forward is removed. The change is being applied; the status below follows it.",
    done: "The forward is removed: your mail stays here.",
    failed: "The forward is removed from the list, but applying the change failed; the status below says why.",
  },
  "expiry-set": {
    applying: "The expiry is changed. The change is being applied; the status below follows it.",
    done: "The expiry is changed and applied.",
    failed: "The expiry is changed in the list, but applying the change failed; the status below says why.",
  },
  claimed: "Your mailbox is created, but not live yet: publish the TXT record below to prove the domain is yours.",
  deleted: "Your mailbox is deleted. The mail it held is kept until an administrator removes it.",
};

export function registerMailboxRoutes(app: FastifyInstance, ctx: WebContext): void {
  const home = async (
    reply: FastifyReply,
    session: Session,
    extra: {
      notice?: string | ChangeNotice;
      error?: string;
      values?: CreateFormValues;
      typedAlias?: string;
      status?: number;
    } = {},
  ) => {
    const list = await ctx.store.read();
    const mailbox: MailboxEntry | undefined = list.byOwner(session.uid);
    const [usage, largestMessage, parts, kept] = await Promise.all([
      mailbox ? ctx.usage(mailbox.owner).catch(() => undefined) : undefined,
      mailbox && mailbox.pendingProof === undefined
        ? ctx.largestMessage(mailbox.owner).catch(() => undefined)
        : undefined,
      mailbox ? changingParts(ctx, mailbox) : {},
      mailbox ? undefined : keptMailOf(ctx.applier, session.uid).catch(() => undefined),
    ]);
    return sendPage(
      reply,
      extra.status ?? 200,
      homePage({
        viewer: viewerOf(session),
        managedDomain: ctx.options.managedDomain,
        mxHost: ctx.mxHost,
        mailClientPorts: ctx.mailClients.ports,
        transport: ctx.transport,
        status: ctx.runner.status(),
        ...(mailbox ? { mailbox } : {}),
        ...(usage !== undefined ? { usage } : {}),
        ...(largestMessage !== undefined ? { largestMessage } : {}),
        ...parts,
        ...(extra.values ? { values: extra.values } : {}),
        ...(kept ? { keptMail: keptMailFieldset(kept, extra.values?.keptMail) } : {}),
        ...(extra.typedAlias !== undefined ? { typedAlias: extra.typedAlias } : {}),
        maxExpiryDays: Math.floor(ctx.web.maxExpiry / 86_400_000),
        ...(extra.notice ? { notice: extra.notice } : {}),
        ...(extra.error ? { error: extra.error } : {}),
      }),
    );
  };

  app.get("/", async (request, reply) => {
    const session = currentSession(ctx, request);
    if (!session) return reply.redirect("/login", 303);
    const which = Object.keys((request.query ?? {}) as object)[0];
    const notice = which !== undefined ? NOTICES[which] : undefined;
    return home(reply, session, notice ? { notice } : {});
  });

  // With ?follow, the part of the owner's page that changes by itself too (mailbox-state.ts):
  // read-only, for the session's own mailbox, and readable by the page's own origin only.
  app.get("/status.json", async (request, reply) => {
    const session = currentSession(ctx, request);
    if (!session) return reply.code(401).send({ error: "log in first" });
    const status = ctx.runner.status();
    const follow =
      "follow" in ((request.query ?? {}) as object) ? await followedNow(ctx, viewerOf(session)) : undefined;
    return reply.header("cache-control", "no-store").send({
      ...status,
      label: statusLabel(status),
      ...(follow
        ? {
            follow: {
              view: follow.view,
              html: follow.html.text,
              waiting: follow.waiting,
              live: follow.live,
              liveNotice: LIVE_NOTICE,
            },
          }
        : {}),
    });
  });

  app.post("/mailbox", async (request, reply) => {
    const session = postSession(ctx, request, reply);
    if (!session) return reply;
    const values = {
      localPart: field(request, "localPart"),
      kind: field(request, "kind") === "external" ? "external" : "subdomain",
      subdomain: field(request, "subdomain"),
      externalDomain: field(request, "externalDomain"),
      keptMail: field(request, "keptMail"),
    } as const;
    const create: CreateRequest = { owner: session.uid, ...values };
    try {
      // The mail kept from an earlier mailbox goes where the owner said, before the new one is listed.
      const planned = planCreate(await ctx.store.read(), create, ctx.options).find((m) => m.owner === session.uid)!;
      await settleKeptMail(ctx.applier, session.uid, planned.address, values.keptMail);
      const list = await ctx.store.update((current) => planCreate(current, create, ctx.options));
      request.log.info({ uid: session.uid, address: list.byOwner(session.uid)?.address }, "mailbox created");
    } catch (err) {
      if (err instanceof Refusal) return home(reply, session, { status: err.status, error: err.message, values });
      throw err;
    }
    ctx.runner.request(`create mailbox of ${session.uid}`);
    if (create.kind === "external") {
      // The first look at the DNS now, not at the next tick: the record may be there already.
      // The page waits for it a moment, so it shows the answer rather than "not checked yet".
      await Promise.race([ctx.proofs.tick(), sleep(FIRST_CHECK_WAIT_MS, undefined, { ref: false })]);
      return reply.redirect("/?claimed", 303);
    }
    return reply.redirect("/?created", 303);
  });

  // One key or alias more or less for the owner's mailbox: validated like the users list's,
  // then applied. `retyped` is what the form shows again after a refusal: never a key's text.
  const changeMailbox = (
    path: string,
    plan: (owner: string, request: Parameters<typeof field>[0]) => Parameters<typeof ctx.store.update>[0],
    done: string,
    section: "ssh-keys" | "aliases" | "forward" | "expiry",
    retyped?: (request: Parameters<typeof field>[0]) => string,
  ) =>
    app.post(path, async (request, reply) => {
      const session = postSession(ctx, request, reply);
      if (!session) return reply;
      try {
        await ctx.store.update(plan(session.uid, request));
      } catch (err) {
        // The refused text of a key is never shown again: it may be a private key.
        if (err instanceof Refusal)
          return home(reply, session, {
            status: err.status,
            error: err.message,
            ...(retyped ? { typedAlias: retyped(request) } : {}),
          });
        throw err;
      }
      request.log.info({ uid: session.uid, change: done }, `${section.replace("-", " ")} changed`);
      ctx.runner.request(`${done} for ${session.uid}`);
      return reply.redirect(`/?${done}#${section}`, 303);
    });
  changeMailbox(
    "/mailbox/keys",
    (owner, request) => (list) => planAddKey(list, owner, field(request, "sshKey")),
    "key-added",
    "ssh-keys",
  );
  changeMailbox(
    "/mailbox/keys/remove",
    (owner, request) => (list) => planRemoveKey(list, owner, field(request, "fingerprint")),
    "key-removed",
    "ssh-keys",
  );
  changeMailbox(
    "/mailbox/aliases",
    (owner, request) => (list) => planAddAlias(list, owner, field(request, "alias")),
    "alias-added",
    "aliases",
    (request) => field(request, "alias").slice(0, 64),
  );
  changeMailbox(
    "/mailbox/aliases/remove",
    (owner, request) => (list) => planRemoveAlias(list, owner, field(request, "alias")),
    "alias-removed",
    "aliases",
  );

  changeMailbox(
    "/mailbox/forward",
    (owner, request) => (list) =>
      planForward(list, owner, field(request, "to"), field(request, "keepCopy") !== "", ctx.options.managedDomain),
    "forward-set",
    "forward",
  );
  changeMailbox(
    "/mailbox/forward/remove",
    (owner) => (list) => planRemoveForward(list, owner),
    "forward-removed",
    "forward",
  );
  changeMailbox(
    "/mailbox/expiry",
    (owner, request) => (list) => planOwnExpiry(list, owner, field(request, "expires"), ctx.clock(), ctx.web.maxExpiry),
    "expiry-set",
    "expiry",
  );

  app.post("/mailbox/proof", async (request, reply) => {
    const session = postSession(ctx, request, reply);
    if (!session) return reply;
    let state;
    try {
      state = await ctx.proofs.checkNow(session.uid);
    } catch (err) {
      if (err instanceof Refusal) return home(reply, session, { status: err.status, error: err.message });
      throw err;
    }
    const live = state.verdict?.state === "proven" && state.refused === undefined;
    // "Check now" looks at the MX again too: the page must not show an answer cached before the change.
    const domain = (await ctx.store.read()).byOwner(session.uid)?.domain;
    if (domain !== undefined) await ctx.mxCheck(domain, { fresh: true }).catch(() => undefined);
    return reply.redirect(live ? "/?proven" : "/#proof", 303);
  });

  app.get("/mailbox/delete", async (request, reply) => {
    const session = currentSession(ctx, request);
    if (!session) return reply.redirect("/login", 303);
    const mailbox = (await ctx.store.read()).byOwner(session.uid);
    if (!mailbox)
      return sendPage(reply, 404, messagePage("No mailbox", "You have no mailbox to delete.", viewerOf(session)));
    return sendPage(
      reply,
      200,
      confirmDeletePage({ viewer: viewerOf(session), mailbox, action: "/mailbox/delete", cancel: "/", mine: true }),
    );
  });

  app.post("/mailbox/delete", async (request, reply) => {
    const session = postSession(ctx, request, reply);
    if (!session) return reply;
    try {
      await ctx.store.update((current) => planDelete(current, session.uid));
    } catch (err) {
      if (err instanceof Refusal) return home(reply, session, { status: err.status, error: err.message });
      throw err;
    }
    request.log.info({ uid: session.uid }, "mailbox deleted");
    ctx.runner.request(`delete mailbox of ${session.uid}`);
    return reply.redirect("/?deleted", 303);
  });
}
