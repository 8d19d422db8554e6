// The administrators' list actions: create and delete a list, add and remove a member. Each is
// an adminPost (CSRF, membership asked again: 403 otherwise), goes to the directory through its
// ListWriter (bound as ldap.bindDn), and is logged with the administrator's uid.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DirectoryUnavailableError, ListChangeError, type ListWriter } from "../config/directory.ts";
import type { MailingList } from "../config/mailing-lists.ts";
import { field, sendDirectoryDown, viewerOf, withDeadline, type WebContext } from "./context.ts";
import { memberUids, planNewList } from "./list-rules.ts";
import { Refusal } from "./refusal.ts";
import type { Session } from "./sessions.ts";

export interface ListRouteHelpers {
  /** The admin session of a POST, or undefined after replying (403, 503). */
  readonly adminPost: (request: FastifyRequest, reply: FastifyReply) => Promise<Session | undefined>;
  /** The administrators' page with an error at `status`. */
  readonly refused: (reply: FastifyReply, session: Session, refusal: Refusal) => Promise<FastifyReply>;
}

const STATUS: Record<ListChangeError["problem"], number> = {
  exists: 409,
  "no-such-list": 404,
  "no-such-person": 400,
  "already-member": 409,
  "not-member": 404,
  refused: 409,
};

export function registerListRoutes(app: FastifyInstance, ctx: WebContext, helpers: ListRouteHelpers): void {
  const writer = (): ListWriter => {
    if (ctx.directory.listWriter === undefined)
      throw new Refusal(
        409,
        "The form has no credentials to write to the directory (ldap.bindDn): lists cannot be changed here.",
      );
    return ctx.directory.listWriter;
  };
  const lists = async (): Promise<readonly MailingList[]> =>
    withDeadline(ctx, ctx.directory.lists?.() ?? Promise.resolve([]));
  /** The list the form names by its address: only a list the directory answers with is ever written. */
  const listAt = async (address: string): Promise<MailingList> => {
    const found = (await lists()).find((l) => l.address === address.trim().toLowerCase());
    if (!found) throw new Refusal(404, `There is no list ${address} (it may have been deleted).`);
    return found;
  };

  /** One list action: the admin's POST, the change, a log line naming them, back to the page. */
  const action = (
    path: string,
    change: (session: Session, request: FastifyRequest) => Promise<Record<string, unknown>>,
    message: string,
    done: string,
  ) =>
    app.post(path, async (request, reply) => {
      const session = await helpers.adminPost(request, reply);
      if (!session) return reply;
      let logged;
      try {
        logged = await change(session, request);
      } catch (err) {
        const refusal =
          err instanceof ListChangeError
            ? new Refusal(STATUS[err.problem], err.message)
            : err instanceof Refusal
              ? err
              : undefined;
        if (refusal) return helpers.refused(reply, session, refusal);
        if (err instanceof DirectoryUnavailableError) return sendDirectoryDown(reply, viewerOf(session));
        throw err;
      }
      request.log.info({ admin: session.uid, ...logged }, message);
      return reply.redirect(`/admin?${done}#lists`, 303);
    });

  action(
    "/admin/lists",
    async (session, request) => {
      const write = writer();
      const planned = planNewList(
        await ctx.store.read(),
        await lists(),
        {
          name: field(request, "name"),
          localPart: field(request, "localPart"),
          members: field(request, "members"),
          rule: field(request, "rule"),
          admin: session.uid,
        },
        ctx.options.managedDomain,
      );
      const dn = await withDeadline(ctx, write.create(planned));
      return { list: planned.address, dn, members: planned.memberUids, rule: planned.rule };
    },
    "mailing list created by an administrator",
    "list-created",
  );
  action(
    "/admin/lists/delete",
    async (_session, request) => {
      const write = writer();
      const list = await listAt(field(request, "list"));
      await withDeadline(ctx, write.remove(list.dn));
      return { list: list.address, dn: list.dn };
    },
    "mailing list deleted by an administrator",
    "list-deleted",
  );
  const memberAction = (path: string, add: boolean, message: string, done: string) =>
    action(
      path,
      async (_session, request) => {
        const write = writer();
        const uids = memberUids(field(request, "uid"));
        if (uids.length !== 1) throw new Refusal(400, "Name one member by login name.");
        const uid = uids[0]!;
        const list = await listAt(field(request, "list"));
        await withDeadline(ctx, add ? write.addMember(list.dn, uid) : write.removeMember(list.dn, uid));
        return { list: list.address, member: uid };
      },
      message,
      done,
    );
  memberAction("/admin/lists/members", true, "list member added by an administrator", "member-added");
  memberAction("/admin/lists/members/remove", false, "list member removed by an administrator", "member-removed");
}
