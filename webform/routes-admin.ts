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
import { adminPage, type ReportView } from "./admin-page.ts";
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

  const page = async (
    reply: FastifyReply,
    session: Session,
    extra: { status?: number; notice?: string | ChangeNotice; error?: string } = {},
  ) => {
    const list = await ctx.store.read();
    const usage = new Map<string, number>();
    const [report] = await Promise.all([
      reportView(),
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
}
