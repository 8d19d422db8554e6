// The Directory on an LDAP server (ldapts): web form logins and SMTP AUTH both bind as the user here.
// A fresh connection per call, so one user's bind never carries over into another's search.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import {
  Client,
  EqualityFilter,
  FilterParser,
  InappropriateAuthError,
  InvalidCredentialsError,
  NoSuchObjectError,
  OrFilter,
  UnwillingToPerformError,
  type Entry,
} from "ldapts";
import type { Logger } from "pino";
import { silentLogger } from "../lib/logger.ts";
import { directoryLayout, type LdapSettings } from "../config/sections/ldap.ts";
import { ownerProblem } from "../config/users-list.ts";
import { userDnFromTemplate, userFilterFromTemplate } from "./ldap-escape.ts";
import { searchLists } from "./groups.ts";
import { listWriter } from "./list-admin.ts";
import {
  DirectoryUnavailableError,
  ListChangeError,
  type AuthOutcome,
  type Directory,
  type DirectoryUser,
} from "../config/directory.ts";

export interface DirectoryOptions {
  readonly logger?: Logger;
}

/** Longest password we send: a bound on what a client can make us forward. */
const MAX_PASSWORD_LENGTH = 1024;
const USER_ATTRIBUTES = ["uid", "cn", "displayName", "mail"];

/** The directory's answer was "no" (bad credentials, no such entry): a failed login, not an outage. */
function isRefusal(err: unknown): boolean {
  return (
    err instanceof InvalidCredentialsError ||
    err instanceof NoSuchObjectError ||
    err instanceof InappropriateAuthError ||
    err instanceof UnwillingToPerformError
  );
}

/** The login name as a uid, or undefined when it cannot be one (so it never reaches a DN or filter unchecked). */
function loginToUid(login: string): string | undefined {
  const uid = login.toLowerCase();
  return ownerProblem(uid) === undefined ? uid : undefined;
}

function first(value: Entry[string] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  return typeof v === "string" ? v : v.toString("utf8");
}

/** Checks the settings once, at start, so a bad filter or CA file names the setting instead of failing each login. */
function tlsSettings(settings: LdapSettings): ConnectionOptions | undefined {
  if (settings.caFile === undefined) return undefined;
  try {
    return { ca: readFileSync(settings.caFile) };
  } catch (err) {
    throw new Error(`ldap.caFile: cannot read ${settings.caFile}: ${(err as Error).message}`, { cause: err });
  }
}

export function createDirectory(settings: LdapSettings, options: DirectoryOptions = {}): Directory {
  const logger = options.logger ?? silentLogger();
  const url = new URL(settings.url);
  const secure = url.protocol === "ldaps:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const tls = tlsSettings(settings);
  if (secure && settings.startTls)
    throw new Error("ldap.startTls: StartTLS is for ldap:// URLs; an ldaps:// URL is already encrypted");
  if (settings.userFilter !== undefined) {
    try {
      FilterParser.parseString(userFilterFromTemplate(settings.userFilter, "x"));
    } catch (err) {
      throw new Error(
        `ldap.userFilter: ${JSON.stringify(settings.userFilter)} is not a valid LDAP filter: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  if (settings.bindDn !== undefined && !settings.bindPassword) {
    throw new Error("ldap.bindPassword: required with ldap.bindDn (an empty password would be an anonymous bind)");
  }
  const timeoutMs = settings.timeoutMs;
  // Per-message timeouts bound each step; this bounds the whole call (the StartTLS handshake has no timeout of its own).
  const deadlineMs = timeoutMs * 2;
  const serverTls = (): ConnectionOptions => ({ ...tls, host, ...(isIP(host) === 0 ? { servername: host } : {}) });

  /** Runs `work` on a fresh connection, optionally bound as the service account; always unbinds. */
  async function withClient<T>(what: string, asService: boolean, work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({
      url: settings.url,
      connectTimeout: timeoutMs,
      timeout: timeoutMs,
      ...(secure ? { tlsOptions: serverTls() } : {}),
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
    });
    const run = async (): Promise<T> => {
      if (settings.startTls) await client.startTLS(serverTls());
      if (asService && settings.bindDn !== undefined) {
        // A refused service bind is our misconfiguration, not the user's wrong password.
        await client.bind(settings.bindDn, settings.bindPassword ?? "").catch((err: unknown) => {
          throw new DirectoryUnavailableError(
            `LDAP bind as ldap.bindDn ${settings.bindDn} failed: ${(err as Error).message}`,
            { cause: err },
          );
        });
      }
      return work(client);
    };
    try {
      return await Promise.race([run(), deadline]);
    } catch (err) {
      if (isRefusal(err) || err instanceof DirectoryUnavailableError || err instanceof ListChangeError) throw err;
      logger.warn(
        { err: { message: (err as Error).message, name: (err as Error).name }, url: settings.url },
        `LDAP ${what} failed`,
      );
      throw new DirectoryUnavailableError(
        `LDAP directory ${settings.url} unavailable during ${what}: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      await client.unbind().catch(() => undefined);
    }
  }

  /** The user's entry found with the search filter, or undefined when there is not exactly one. */
  async function findUser(client: Client, uid: string): Promise<Entry | undefined> {
    const filter = userFilterFromTemplate(settings.userFilter!, uid);
    const { searchEntries } = await client.search(settings.baseDn, {
      scope: "sub",
      filter,
      sizeLimit: 2,
      attributes: USER_ATTRIBUTES,
    });
    if (searchEntries.length > 1)
      logger.warn(
        { uid, count: searchEntries.length },
        "ldap.userFilter matches more than one entry; refusing the login",
      );
    return searchEntries.length === 1 ? searchEntries[0] : undefined;
  }

  /** The DN of `uid`: from the template, or searched with the service account. */
  async function userDn(client: Client, uid: string): Promise<{ dn: string; entry?: Entry } | undefined> {
    if (settings.userFilter === undefined) return { dn: userDnFromTemplate(settings.userDnTemplate, uid) };
    const entry = await findUser(client, uid);
    return entry && { dn: entry.dn, entry };
  }

  async function authenticate(login: string, password: string): Promise<AuthOutcome> {
    // An empty password is an anonymous bind that "succeeds" (RFC 4513 5.1.2): refuse it before any bind.
    if (typeof password !== "string" || password.length === 0 || password.length > MAX_PASSWORD_LENGTH)
      return { ok: false };
    const uid = typeof login === "string" ? loginToUid(login) : undefined;
    if (uid === undefined) return { ok: false };
    try {
      const user = await withClient("login", true, async (client) => {
        const found = await userDn(client, uid);
        if (found === undefined) return undefined;
        await client.bind(found.dn, password);
        let entry = found.entry;
        if (entry === undefined) {
          // Read our own entry as the user; a directory that hides it still counts as a login.
          try {
            entry = (await client.search(found.dn, { scope: "base", attributes: USER_ATTRIBUTES })).searchEntries[0];
          } catch (err) {
            if (!isRefusal(err)) throw err;
          }
        }
        const displayName = first(entry?.displayName) ?? first(entry?.cn);
        const mail = first(entry?.mail);
        const result: DirectoryUser = {
          uid,
          dn: found.dn,
          ...(displayName !== undefined && { displayName }),
          ...(mail !== undefined && { mail }),
        };
        return result;
      });
      if (user === undefined) return { ok: false };
      logger.debug({ uid }, "LDAP login accepted");
      return { ok: true, user };
    } catch (err) {
      if (isRefusal(err)) {
        if (err instanceof NoSuchObjectError && settings.userFilter !== undefined)
          logger.warn({ baseDn: settings.baseDn }, "ldap.baseDn does not exist");
        return { ok: false };
      }
      throw err;
    }
  }

  async function isAdmin(login: string): Promise<boolean> {
    const uid = typeof login === "string" ? loginToUid(login) : undefined;
    if (uid === undefined) return false;
    try {
      return await withClient("admin check", true, async (client) => {
        const found = await userDn(client, uid);
        if (found === undefined) return false;
        const filter = new OrFilter({
          filters: [
            new EqualityFilter({ attribute: "member", value: found.dn }),
            new EqualityFilter({ attribute: "uniqueMember", value: found.dn }),
            new EqualityFilter({ attribute: "memberUid", value: uid }),
          ],
        });
        const { searchEntries } = await client.search(settings.adminGroupDn, {
          scope: "base",
          filter,
          attributes: ["1.1"],
        });
        return searchEntries.length === 1;
      });
    } catch (err) {
      if (isRefusal(err)) {
        logger.warn({ adminGroupDn: settings.adminGroupDn }, "ldap.adminGroupDn not found; nobody is an administrator");
        return false;
      }
      throw err;
    }
  }

  const groupsDn = settings.groupsDn ?? directoryLayout(settings.baseDn).groups;
  const groupUserDn = async (c: Client, uid: string) => (await userDn(c, uid))?.dn;
  const lists = () =>
    withClient("list search", true, (client) => searchLists(client, { groupsDn, logger, userDn: groupUserDn }));

  // Lists are written as ldap.bindDn (the directory's manager or an account allowed to write
  // the groups branch): the form's users bind only as themselves.
  const writer =
    settings.bindDn === undefined
      ? undefined
      : listWriter({
          groupsDn,
          userDn: groupUserDn,
          asWriter: (what, work) => withClient(what, true, work),
        });

  return {
    authenticate,
    isAdmin,
    lists,
    ...(writer ? { listWriter: writer } : {}),
    // Nothing is held open between calls.
    close: async () => undefined,
  };
}
