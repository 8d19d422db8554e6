// Writing mailing lists (groups) for the administrators' page: create, delete, add and remove
// a member. The same schema groups.ts reads: groupOfNames + extensibleObject for `mail`,
// `member` and `owner` DNs, `businessCategory: post: RULE`. The client is bound as ldap.bindDn;
// people are named by uid and found as logins find them, so a DN is never built from a form
// field unescaped. LDAP's own answers (entry exists, no such value) become ListChangeErrors.
import {
  AlreadyExistsError,
  AndFilter,
  Attribute,
  Change,
  type Client,
  EqualityFilter,
  InsufficientAccessError,
  NoSuchAttributeError,
  NoSuchObjectError,
  ObjectClassViolationError,
  PresenceFilter,
  TypeOrValueExistsError,
} from "ldapts";
import { ListChangeError, type ListWriter, type NewList } from "../config/directory.ts";
import { ownerProblem } from "../config/users-list.ts";
import { escapeDnValue } from "./ldap-escape.ts";

export interface ListAdminContext {
  /** The groups branch where lists are made. */
  readonly groupsDn: string;
  /** The DN of a user by uid (template or search), or undefined when there is none. */
  readonly userDn: (client: Client, uid: string) => Promise<string | undefined>;
  /** Runs `work` on a fresh connection bound as ldap.bindDn. */
  readonly asWriter: <T>(what: string, work: (client: Client) => Promise<T>) => Promise<T>;
}

/** The DN of an existing person; a ListChangeError when the uid is not a valid one or has no entry. */
async function personDn(client: Client, context: ListAdminContext, uid: string): Promise<string> {
  const dn = ownerProblem(uid) === undefined ? await context.userDn(client, uid) : undefined;
  const found =
    dn !== undefined &&
    (await client.search(dn, { scope: "base", attributes: ["1.1"] }).then(
      (r) => r.searchEntries.length === 1,
      (err: unknown) => {
        if (err instanceof NoSuchObjectError) return false;
        throw err;
      },
    ));
  if (!found)
    throw new ListChangeError("no-such-person", `There is no person ${JSON.stringify(uid)} in the directory.`);
  return dn;
}

/** Refuses a DN that is not a list (a groupOfNames with a `mail`): the writer never touches another entry. */
async function mustBeList(client: Client, dn: string): Promise<void> {
  const filter = new AndFilter({
    filters: [
      new EqualityFilter({ attribute: "objectClass", value: "groupOfNames" }),
      new PresenceFilter({ attribute: "mail" }),
    ],
  });
  const entries = await client.search(dn, { scope: "base", filter, attributes: ["1.1"] }).then(
    (r) => r.searchEntries,
    (err: unknown) => {
      if (err instanceof NoSuchObjectError) return [];
      throw err;
    },
  );
  if (entries.length !== 1)
    throw new ListChangeError("no-such-list", `There is no list ${dn} (it may have been deleted).`);
}

/** LDAP's refusals as the form's answers; anything else (an outage) passes through. */
function refusal(err: unknown, what: string): unknown {
  if (err instanceof ListChangeError) return err;
  if (err instanceof AlreadyExistsError)
    return new ListChangeError("exists", `${what}: a group of that name exists.`, { cause: err });
  if (err instanceof TypeOrValueExistsError)
    return new ListChangeError("already-member", `${what}: already a member.`, { cause: err });
  if (err instanceof NoSuchAttributeError)
    return new ListChangeError("not-member", `${what}: not a member.`, { cause: err });
  if (err instanceof ObjectClassViolationError)
    // groupOfNames must keep one member: the last one goes with the list.
    return new ListChangeError("refused", `${what}: a list keeps at least one member; delete the list instead.`, {
      cause: err,
    });
  if (err instanceof InsufficientAccessError)
    return new ListChangeError("refused", `${what}: ldap.bindDn may not write groups.`, { cause: err });
  return err;
}

export function listWriter(context: ListAdminContext): ListWriter {
  const run = <T>(what: string, work: (client: Client) => Promise<T>): Promise<T> =>
    // Translated inside the connection's work, before an unknown error is taken for an outage.
    context.asWriter(what, (client) =>
      work(client).catch((err: unknown) => {
        throw refusal(err, what);
      }),
    );
  return {
    create: (list: NewList) =>
      run(`creating the list ${list.address}`, async (client) => {
        const members = [];
        for (const uid of list.memberUids) members.push(await personDn(client, context, uid));
        const owner = await personDn(client, context, list.ownerUid);
        const dn = `cn=${escapeDnValue(list.name)},${context.groupsDn}`;
        await client.add(dn, {
          objectClass: ["groupOfNames", "extensibleObject"],
          cn: list.name,
          mail: list.address,
          member: members,
          owner,
          businessCategory: `post: ${list.rule}`,
        });
        return dn;
      }),
    remove: (dn: string) =>
      run(`deleting the list ${dn}`, async (client) => {
        await mustBeList(client, dn);
        await client.del(dn);
      }),
    addMember: (dn: string, uid: string) =>
      run(`adding ${uid} to ${dn}`, async (client) => {
        await mustBeList(client, dn);
        const member = await personDn(client, context, uid);
        await client.modify(
          dn,
          new Change({ operation: "add", modification: new Attribute({ type: "member", values: [member] }) }),
        );
      }),
    removeMember: (dn: string, uid: string) =>
      run(`removing ${uid} from ${dn}`, async (client) => {
        await mustBeList(client, dn);
        const member = await personDn(client, context, uid);
        await client.modify(
          dn,
          new Change({ operation: "delete", modification: new Attribute({ type: "member", values: [member] }) }),
        );
      }),
  };
}
