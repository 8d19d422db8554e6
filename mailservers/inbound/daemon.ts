// `semail inbound` as a value: users list (watched), mbox store, inbound backend and the
// shared SMTP front end on every listen address; AUTH (after TLS) on the submission ones,
// whose authenticated sessions hand their mail to outbound. Mail for mailboxes on the other
// SEMail hosts is handed to them (hand-on.ts), and a mailbox that leaves this host is let go
// (released-mailboxes.ts). cli/inbound.ts adds signals.
import { mkdir } from "node:fs/promises";
import type { Logger } from "pino";
import { ConfigError, usersListOptions, type Settings } from "../../config/settings.ts";
import { heldUsersList, watchUsersList, type UsersListWatch } from "../../config/users-file.ts";
import type { UsersList } from "../../config/users-list.ts";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../config/directory.ts";
import { createAuthenticator } from "../core/authenticate.ts";
import { startMetricsIfSet } from "../core/start-metrics.ts";
import {
  createSmtpFrontEnd,
  listenSmtp,
  reloadListenerTls,
  type BoundAddress,
  type SmtpLimits,
} from "../core/index.ts";
import { readTlsFiles } from "../../config/tls-files.ts";
import { provisionPlainRoot } from "../../config/mailbox-layout.ts";
import { createMboxStore, type FaultInjector, type MboxStore } from "./store/index.ts";
import { createAdvertisedSize } from "./advertised-size.ts";
import { createInboundBackend } from "./backend.ts";
import { arrivalAuthOf } from "./auth/settings.ts";
import { spamCheck } from "./spam/index.ts";
import { DEFAULT_ADMIN_OWNER, adminMailbox } from "./recipients.ts";
import { createHandoff } from "./submission-handoff.ts";
import { startLists, type RunningLists } from "./lists/start-lists.ts";
import { handoffTarget, submissionListeners } from "./submission-settings.ts";
import { forwardingSettings, startForwarding } from "./forward/start-forwarding.ts";
import { startExpiryWarnings } from "./expiry/start-expiry-warnings.ts";
import { createHandOn } from "./hand-on.ts";
import { createMailboxReleases } from "./released-mailboxes.ts";

export interface InboundDependencies {
  readonly logger: Logger;
  /** Front-end limits over those from the settings (tests shorten closeTimeoutMs). */
  readonly limits?: Partial<SmtpLimits>;
  /** Free bytes of the mail root's filesystem (tests fake a full disk). */
  readonly freeSpace?: (path: string) => Promise<number>;
  /** The backend's clock (tests move it past the free-space cache). */
  readonly clock?: () => number;
  /** The directory AUTH binds to (default: from the ldap settings). */
  readonly directory?: Directory;
  /** The users list as whoever started us read it: then the file is not watched, and reload(list) hands over each new one (local mode). */
  readonly usersList?: UsersList;
  /** Tests only: I/O faults in the mbox store (the fault matrix's EIO row). */
  readonly faults?: FaultInjector;
}

export interface RunningInbound {
  readonly addresses: readonly BoundAddress[];
  readonly users: UsersListWatch;
  readonly store: MboxStore;
  /** The largest message a listed owner's mailbox takes now (bytes as sent), or undefined for an owner not listed. */
  largestMessage(owner: string): Promise<number | undefined>;
  /** Re-reads the users list now (SIGHUP), or takes the one given, read by whoever applied it; the mailing lists; and the certificate (reloadTls). */
  reload(list?: UsersList): Promise<void>;
  /** Re-reads tls.cert and tls.key for new sessions, open ones undisturbed; a bad file keeps the old certificate (false). */
  reloadTls(): Promise<boolean>;
  /** Where /metrics is served ("127.0.0.1:9101"), when inbound.metricsListen is set. */
  readonly metricsAddress?: string;
  /** Stops listening, lets open sessions finish (closeTimeoutMs), waits for the store. */
  stop(): Promise<void>;
}

/** The front-end limits the inbound settings give. */
export function inboundLimits(settings: Settings): Partial<SmtpLimits> {
  const i = settings.inbound;
  return {
    maxRecipients: i.maxRecipients,
    maxLineLength: i.maxLineLength,
    idleTimeoutMs: i.idleTimeout,
    commandTimeoutMs: i.commandTimeout,
    maxConnections: i.maxConnections,
    maxConnectionsPerIp: i.maxConnectionsPerIp,
    greetDelayMs: i.greetDelay,
    greetPassTtlMs: i.greetPassTtl,
  };
}

export async function startInbound(settings: Settings, deps: InboundDependencies): Promise<RunningInbound> {
  const { logger } = deps;
  const i = settings.inbound;
  const tls = await readTlsFiles(settings.tls);
  const specs = i.listen.filter((listen) => {
    if (listen.implicitTls && !tls)
      logger.warn({ listen: listen.spec }, "no certificate (tls.cert, tls.key): not listening for implicit TLS here");
    return !listen.implicitTls || tls !== undefined;
  });
  if (specs.length === 0)
    throw new ConfigError("inbound.listen: every address needs implicit TLS but tls.cert and tls.key are not set");
  // AUTH only ever after TLS: without a certificate no listener offers it.
  const submissionSpecs = new Set(tls ? submissionListeners(settings).map((l) => l.spec) : []);
  if (!tls && submissionListeners(settings).length > 0)
    logger.warn("no certificate (tls.cert, tls.key): AUTH needs TLS, so no listener offers submission");
  const target = submissionSpecs.size > 0 ? await handoffTarget(settings) : undefined;
  const forwardTo = await forwardingSettings(settings);
  let directory: Directory | undefined;
  try {
    directory = target
      ? (deps.directory ?? createDirectory(settings.ldap, { logger: logger.child({ part: "ldap" }) }))
      : undefined;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  // Mailing lists are the directory's groups (inbound.lists); the AUTH directory when there is one.
  let listsDirectory: Directory | undefined;
  try {
    listsDirectory = i.lists.enabled
      ? (directory ?? deps.directory ?? createDirectory(settings.ldap, { logger: logger.child({ part: "ldap" }) }))
      : undefined;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (listsDirectory && !listsDirectory.lists)
    throw new ConfigError("inbound.lists.enabled: the directory given cannot list groups");

  // First, so a port in use stops start-up before anything else is opened.
  const metrics = await startMetricsIfSet("inbound", i.metricsListen, logger);
  await mkdir(i.mailRoot, { recursive: true, mode: 0o755 });
  // Each new list also goes to the mailbox releases, once the store they need is open.
  let listChanged = (_list: UsersList): void => undefined;
  const users = deps.usersList
    ? heldUsersList(deps.usersList)
    : await watchUsersList(settings.users, usersListOptions(settings), logger, (list) => listChanged(list));
  // The default admin mailbox is ours to create; every listed root is provisioning's (the
  // store never creates one), including a listed owner that happens to be "postmaster".
  if (i.adminOwner === undefined && !users.current().byOwner(DEFAULT_ADMIN_OWNER)) {
    await provisionPlainRoot(i.mailRoot, DEFAULT_ADMIN_OWNER);
  }
  const store = createMboxStore({
    mailRoot: i.mailRoot,
    hostname: settings.hostname,
    logger: logger.child({ part: "store" }),
    lockTimeoutMs: i.lockTimeout,
    minFreeSpace: i.minFreeSpace,
    ...(deps.faults ? { faults: deps.faults } : {}),
  });
  const releases = createMailboxReleases({
    store,
    mailRoot: i.mailRoot,
    hostName: settings.hostName,
    // The note's time is the wall clock's, never a test's: the move tool compares it with its own.
    logger: logger.child({ part: "releases" }),
  });
  await releases.follow(users.current());
  listChanged = (list) => void releases.follow(list);
  const admin = (list: UsersList) => adminMailbox(list, i.adminOwner, settings.defaultMailboxSize);
  const forwarding = startForwarding(settings, forwardTo, {
    store,
    users: users.current(),
    ...(deps.clock ? { clock: deps.clock } : {}),
    logger,
  });
  const lists: RunningLists | undefined = listsDirectory
    ? await startLists({
        directory: listsDirectory,
        refreshMs: i.lists.refresh,
        users: () => users.current(),
        managedDomain: settings.managedDomain,
        hostName: settings.hostName,
        store,
        logger: logger.child({ part: "lists" }),
        // Members on other servers get their copy through outbound's forward account.
        ...(forwarding && forwardTo
          ? {
              remote: {
                forwarder: forwarding.forwarder,
                bounceKey: forwardTo.secret.listBounceKey,
                mailRoot: i.mailRoot,
                hostname: settings.hostname,
                bounceReport: i.lists.bounceReport,
                bounceWindowMs: i.lists.bounceWindow,
                admin: () => {
                  const { owner, quota } = admin(users.current());
                  return { owner, quota, recipient: `postmaster@${settings.managedDomain}` };
                },
                ...(deps.clock ? { clock: deps.clock } : {}),
              },
            }
          : {}),
      })
    : undefined;
  const quotaOf = (owner: string): number | undefined => {
    const list = users.current();
    const listed = list.byOwner(owner)?.size;
    const ofAdmin = admin(list);
    return listed ?? (owner === ofAdmin.owner ? ofAdmin.quota : undefined);
  };
  const advertisedSize = createAdvertisedSize({
    limit: i.maxMessageSize,
    mailboxes: () => {
      const list = users.current();
      return [...list.mailboxes.map((m) => ({ owner: m.owner, quota: m.size })), admin(list)];
    },
    largestMessage: (owner, quota) => store.largestMessage(owner, quota),
    logger,
  });
  await advertisedSize.refresh();
  const storeTime = metrics?.histogram(
    "semail_store_commit_seconds",
    "From a message's first byte at the store to every copy synced.",
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  );
  const backend = createInboundBackend({
    users: () => users.current(),
    managedDomain: settings.managedDomain,
    admin,
    store,
    mailRoot: i.mailRoot,
    minFreeSpace: i.minFreeSpace,
    logger,
    ...(deps.freeSpace ? { freeSpace: deps.freeSpace } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
    arrival: arrivalAuthOf(settings, logger.child({ part: "auth" })),
    ...(i.rspamd ? { spam: spamCheck(settings, i.rspamd, logger) } : {}),
    ...(storeTime ? { onStored: (seconds: number) => storeTime.observe(seconds) } : {}),
    ...(lists ? { lists: lists.posts } : {}),
    ...(forwarding ? { forwarding } : {}),
    hostName: settings.hostName,
    handOn: createHandOn({
      hostName: settings.hostName,
      hosts: settings.hosts,
      hostname: settings.hostname,
      logger: logger.child({ part: "hand-on" }),
    }),
    ...(target && directory
      ? {
          submission: {
            // Never without TLS on inbound (its listeners are public), whatever the client's address.
            authenticate: createAuthenticator({
              directory,
              users: () => users.current(),
              plaintextAllowed: () => false,
              logger,
            }),
            handoff: createHandoff({ target, hostname: settings.hostname, logger }),
          },
        }
      : {}),
  });
  const frontEnd = createSmtpFrontEnd({
    backend,
    logger,
    hostname: settings.hostname,
    maxMessageSize: i.maxMessageSize,
    // MX listeners say what the mailboxes take now; submission ones what may be sent.
    advertisedSize: () => advertisedSize.current(),
    ...(tls ? { tls } : {}),
    // Offered per listener (below); never required: an MX session on 587 is still one.
    auth: { enabled: target !== undefined, required: false, keepCredentials: true },
    limits: { ...inboundLimits(settings), ...deps.limits },
    ...(metrics ? { observer: metrics.observer } : {}),
  });
  if (metrics) metrics.gauge("semail_smtp_sessions", "SMTP sessions open now.", () => frontEnd.sessions);
  let listening;
  try {
    listening = await listenSmtp(frontEnd, specs, (spec) => submissionSpecs.has(spec.spec));
  } catch (err) {
    users.close();
    await releases.idle();
    await lists?.stop();
    await store.close();
    await directory?.close();
    if (listsDirectory !== directory) await listsDirectory?.close();
    await metrics?.close();
    throw new ConfigError(`inbound.listen: ${(err as Error).message}`);
  }
  const expiry = await startExpiryWarnings(settings, {
    store,
    users: () => users.current(),
    ...(deps.clock ? { clock: deps.clock } : {}),
    logger,
  });
  const bound = (a: BoundAddress) => `${a.boundAddress}:${a.boundPort}${a.implicitTls ? "/tls" : ""}`;
  logger.info(
    {
      listen: listening.addresses.map(bound),
      ...(target
        ? { submission: listening.addresses.filter((a) => a.offersAuth).map(bound), outbound: i.submission.outbound }
        : {}),
      mailRoot: i.mailRoot,
      mailboxes: users.current().mailboxes.length,
    },
    "listening",
  );
  return {
    addresses: listening.addresses,
    ...(metrics ? { metricsAddress: metrics.address } : {}),
    users,
    store,
    async largestMessage(owner) {
      const quota = quotaOf(owner);
      return quota === undefined ? undefined : store.largestMessage(owner, quota);
    },
    async reload(list) {
      await users.reload(list);
      // Local mode hands the list in: the releases follow it here (a watched file's reload already told them).
      await releases.follow(users.current());
      // SIGHUP also reads the mailing lists now, not at the next refresh.
      await lists?.refresh();
      await expiry.check();
      await reloadListenerTls(listening, settings.tls, tls !== undefined, logger);
    },
    reloadTls: () => reloadListenerTls(listening, settings.tls, tls !== undefined, logger),
    async stop() {
      await listening.close();
      await lists?.stop();
      await expiry.stop();
      users.close();
      await releases.idle();
      await store.close();
      await directory?.close();
      if (listsDirectory !== directory) await listsDirectory?.close();
      await metrics?.close();
    },
  };
}
