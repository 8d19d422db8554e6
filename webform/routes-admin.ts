// Administrators (members of ldap.adminGroupDn): every mailbox with its use, delete any,
// change a size, and the health report. Writes ask the directory again, so a removal from
// the group takes effect at once; each is logged with the administrator's uid.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { formatSize } from "../config/size.ts";
import { DirectoryUnavailableError } from "../config/directory.ts";
import {
  currentSession,
  field,
  postSession,
  sendDirectoryDown,
  sendPage,
  viewerOf,
  withDeadline,
  type WebContext,
} from "./context.ts";
import { planDelete, planResize } from "./mailbox-rules.ts";
import { planExpiry } from "./expiry-rules.ts";
import { adminPage, type ReportView } from "./admin-page.ts";
import type { ListsView } from "./lists-section.ts";
import { registerListRoutes } from "./routes-lists.ts";
import { confirmDeletePage, messagePage, type ChangeNotice } from "./pages.ts";
import { Refusal } from "./refusal.ts";
import type { Session } from "./sessions.ts";

// A notice about a change still being applied follows the apply status (pages.ts ChangeNotice).
const NOTICES: Record<string, string | ChangeNotice> = {
  resized: {
    applying: "The size is changed; the change is being applied.",
    done: "The size is changed and applied.",
    failed: "The size is changed in the list, but applying it failed; the status below says why.",
  },
  deleted: "The mailbox is deleted; its mail is kept on disk until you remove it.",
  expiry: {
    applying: "The expiry is changed; the change is being applied.",
    done: "The expiry is changed and applied.",
    failed: "The expiry is changed in the list, but applying it failed; the status below says why.",
  },
  "list-created": "The list is created in the directory.",
  "list-deleted": "The list is deleted from the directory.",
  "member-added": "The member is added to the list.",
  "member-removed": "The member is removed from the list.",
};

/** How long a page view waits for a report that is not ready (the first view, or the first after a minute). */
const REPORT_WAIT_MS = 10_000;

export function registerAdminRoutes(app: FastifyInstance, ctx: WebContext): void {
  const notAdmin = (reply: FastifyReply, session: Session) =>
    sendPage(
      reply,
      403,
      messagePage("Administrators only", "This page is for members of the administrators' group.", viewerOf(session)),
    );

  /** The report for the page: ready, still running after REPORT_WAIT_MS, or failed as a whole. */
  const reportView = async (): Promise<ReportView | undefined> => {
    if (ctx.report === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ReportView>((resolve) => {
      timer = setTimeout(resolve, REPORT_WAIT_MS, { state: "running" });
    });
    try {
      return await Promise.race([
        ctx.report().then(
          (report): ReportView => ({ state: "ready", report }),
          (err: unknown): ReportView => ({ state: "failed", reason: (err as Error).message }),
        ),
        late,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  /** The directory's lists for the page, or why they could not be read; none when the directory has no lists. */
  const listsView = async (): Promise<ListsView | undefined> => {
    if (ctx.directory.lists === undefined) return undefined;
    try {
      const lists = await withDeadline(ctx, ctx.directory.lists());
      return { state: "ready", lists, writable: ctx.directory.listWriter !== undefined };
    } catch (err) {
      return { state: "failed", reason: (err as Error).message };
    }
  };

  const page = async (
    reply: FastifyReply,
    session: Session,
    extra: { status?: number; notice?: string | ChangeNotice; error?: string } = {},
  ) => {
    const list = await ctx.store.read();
    const usage = new Map<string, number>();
    const [report, lists] = await Promise.all([
      reportView(),
      listsView(),
      ...list.mailboxes.map(async (m) => {
        const used = await ctx.usage(m.owner).catch(() => undefined);
        if (used !== undefined) usage.set(m.owner, used);
      }),
    ]);
    return sendPage(
      reply,
      extra.status ?? 200,
      adminPage({
        viewer: viewerOf(session),
        // Pending claims too: an administrator may delete a squatter's claim or size it in advance.
        mailboxes: list.entries,
        usage,
        status: ctx.runner.status(),
        minSize: ctx.options.minSize,
        ...(report ? { report } : {}),
        ...(lists ? { lists } : {}),
        managedDomain: ctx.options.managedDomain,
        ...(extra.notice ? { notice: extra.notice } : {}),
        ...(extra.error ? { error: extra.error } : {}),
      }),
    );
  };

  /** The admin session of a POST (CSRF checked, membership asked again), or undefined after replying. */
  const adminPost = async (request: FastifyRequest, reply: FastifyReply): Promise<Session | undefined> => {
    const session = postSession(ctx, request, reply);
    if (!session) return undefined;
    let admin: boolean;
    try {
      admin = await withDeadline(ctx, ctx.directory.isAdmin(session.uid));
    } catch (err) {
      if (err instanceof DirectoryUnavailableError) {
        void sendDirectoryDown(reply, viewerOf(session));
        return undefined;
      }
      throw err;
    }
    if (!admin) {
      void notAdmin(reply, session);
      return undefined;
    }
    return session;
  };

  registerListRoutes(app, ctx, {
    adminPost,
    refused: (reply, session, refusal) => page(reply, session, { status: refusal.status, error: refusal.message }),
  });

  app.get("/admin", async (request, reply) => {
    const session = currentSession(ctx, request);
    if (!session) return reply.redirect("/login", 303);
    if (!session.admin) return notAdmin(reply, session);
    const which = Object.keys((request.query ?? {}) as object)[0];
    const notice = which !== undefined ? NOTICES[which] : undefined;
    return page(reply, session, notice ? { notice } : {});
  });

  app.get("/admin/delete", async (request, reply) => {
    const session = currentSession(ctx, request);
    if (!session) return reply.redirect("/login", 303);
    if (!session.admin) return notAdmin(reply, session);
    const owner = String((request.query as Record<string, unknown>)?.owner ?? "");
    const mailbox = (await ctx.store.read()).byOwner(owner);
    if (!mailbox) return page(reply, session, { status: 404, error: `There is no mailbox for ${owner}.` });
    return sendPage(
      reply,
      200,
      confirmDeletePage({
        viewer: viewerOf(session),
        mailbox,
        action: "/admin/delete",
        cancel: "/admin",
        mine: mailbox.owner === session.uid,
      }),
    );
  });

  app.post("/admin/delete", async (request, reply) => {
    const session = await adminPost(request, reply);
    if (!session) return reply;
    const owner = field(request, "owner");
    try {
      await ctx.store.update((current) => planDelete(current, owner));
    } catch (err) {
      if (err instanceof Refusal) return page(reply, session, { status: err.status, error: err.message });
      throw err;
    }
    request.log.info({ admin: session.uid, owner }, "mailbox deleted by an administrator");
    ctx.runner.request(`${session.uid} deleted the mailbox of ${owner}`);
    return reply.redirect("/admin?deleted", 303);
  });

  app.post("/admin/size", async (request, reply) => {
    const session = await adminPost(request, reply);
    if (!session) return reply;
    const owner = field(request, "owner");
    const size = field(request, "size");
    let changed;
    try {
      changed = await ctx.store.update((current) => planResize(current, owner, size, ctx.options));
    } catch (err) {
      if (err instanceof Refusal) return page(reply, session, { status: err.status, error: err.message });
      throw err;
    }
    request.log.info(
      { admin: session.uid, owner, size: formatSize(changed.byOwner(owner)!.size) },
      "mailbox size changed",
    );
    ctx.runner.request(`${session.uid} resized the mailbox of ${owner}`);
    return reply.redirect("/admin?resized", 303);
  });

  app.post("/admin/expiry", async (request, reply) => {
    const session = await adminPost(request, reply);
    if (!session) return reply;
    const owner = field(request, "owner");
    const expires = field(request, "expires").trim();
    try {
      await ctx.store.update((current) => planExpiry(current, owner, expires));
    } catch (err) {
      if (err instanceof Refusal) return page(reply, session, { status: err.status, error: err.message });
      throw err;
    }
    request.log.info(
      { admin: session.uid, owner, expires: expires || null },
      "mailbox expiry changed by an administrator",
    );
    ctx.runner.request(`${session.uid} changed the expiry of ${owner}'s mailbox`);
    return reply.redirect("/admin?expiry", 303);
  });
}
