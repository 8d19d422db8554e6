// `semail outbound` as a value: spool, queue, sender and the shared SMTP front end with
// the submission backend. Dependencies (directory, sender, clock) can be injected for tests.
import type { Logger } from "pino";
import { ConfigError, usersListOptions, type Settings } from "../../config/settings.ts";
import { heldUsersList, watchUsersList } from "../../config/users-file.ts";
import type { UsersList } from "../../config/users-list.ts";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../config/directory.ts";
import {
  createSmtpFrontEnd,
  listenSmtp,
  reloadListenerTls,
  type BoundAddress,
  type SmtpLimits,
} from "../core/index.ts";
import { readTlsFiles } from "../../config/tls-files.ts";
import { systemClock, type Clock } from "../../lib/clock.ts";
import {
  claimSpool,
  createSender,
  deliveryOptionsFromSettings,
  Queue,
  Spool,
  watchRequests,
  type Deliver,
} from "./relay/index.ts";
import { createSubmissionBackend } from "./backend.ts";
import { readForwardSecret } from "../core/forward-secret.ts";
import { createSrs } from "../core/srs.ts";
import { startMetricsIfSet } from "../core/start-metrics.ts";
import { createForwardPolicy } from "./forward-policy.ts";
import { createListBounceAddresses } from "../core/list-bounce-address.ts";
import { cachedDirectoryLists } from "./directory-lists.ts";
import { countedDeliveries, queueGauges } from "./relay-metrics.ts";
import { networkBlockList } from "../../lib/ip-networks.ts";
import { listenProblem, plaintextAuthAllowed } from "./network-policy.ts";

/** How long the forward policy trusts the directory's lists it read (a post follows inbound's read within seconds). */
const LISTS_TTL_MS = 5_000;

export interface OutboundDependencies {
  readonly logger: Logger;
  readonly directory?: Directory;
  /** Replaces MX delivery (tests). */
  readonly deliver?: Deliver;
  readonly clock?: Clock;
  /** SMTP front-end limits over the defaults (tests shorten closeTimeoutMs). */
  readonly limits?: Partial<SmtpLimits>;
  /** The users list as whoever started us read it: then the file is not watched, and reload(list) hands over each new one (local mode). */
  readonly usersList?: UsersList;
}

export interface RunningOutbound {
  readonly addresses: readonly BoundAddress[];
  /** Where /metrics is served ("127.0.0.1:9102"), when outbound.metricsListen is set. */
  readonly metricsAddress?: string;
  readonly queue: Queue;
  readonly spool: Spool;
  /** Re-reads the users list now (also done on change), or takes the one given; resolves once the new list is in use. And the certificate (reloadTls). */
  reload(list?: UsersList): Promise<void>;
  /** Re-reads tls.cert and tls.key for new sessions, open ones undisturbed; a bad file keeps the old certificate (false). */
  reloadTls(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Refuses wildcard and public listen addresses unless forced; the error says why. */
export function checkListenAddresses(settings: Settings): void {
  // Both parsed by the settings schema: only the policy is left to check.
  const containerNetworks = networkBlockList(settings.outbound.containerNetworks);
  for (const listen of settings.outbound.listen) {
    const problem = listenProblem(listen.host, containerNetworks, settings.outbound.forcePublicListen);
    if (problem) throw new ConfigError(`outbound.listen: refusing ${listen.spec}: ${problem}`);
  }
}

export async function startOutbound(settings: Settings, deps: OutboundDependencies): Promise<RunningOutbound> {
  const o = settings.outbound;
  const { logger } = deps;
  checkListenAddresses(settings);
  const trusted = networkBlockList(o.trustedNetworks);
  const tls = await readTlsFiles(settings.tls);
  const forwardSecret = o.forwardSecretFile ? await readForwardSecret(o.forwardSecretFile) : undefined;

  const cleanups: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await Promise.resolve(cleanup()).catch((err: unknown) =>
        logger.error({ err: (err as Error).message }, "error while stopping"),
      );
    }
  };
  try {
    const clock = deps.clock ?? systemClock;
    // First, so a port in use stops start-up before the spool is claimed.
    const metrics = await startMetricsIfSet("outbound", o.metricsListen, logger);
    if (metrics) cleanups.push(() => metrics.close());
    const spool = new Spool(o.spool, { clock });
    // Claimed before it is cleaned: another daemon's segment under way must not look spent to us.
    await spool.open({ clean: false });
    cleanups.push(await claimSpool(spool));
    await spool.open({ clean: true });
    cleanups.push(() => spool.close());

    const users = deps.usersList
      ? heldUsersList(deps.usersList)
      : await watchUsersList(settings.users, usersListOptions(settings), logger);
    cleanups.push(() => users.close());
    const directory = deps.directory ?? createDirectory(settings.ldap, { logger: logger.child({ part: "ldap" }) });
    cleanups.push(() => directory.close());

    const sender = deps.deliver
      ? undefined
      : createSender(
          await deliveryOptionsFromSettings(settings, logger.child({ part: "send" }), (domain) =>
            users.current().hasDomain(domain),
          ),
        );
    const deliver: Deliver = deps.deliver ?? ((job) => sender!.deliver(job));
    const queue = new Queue({
      spool,
      deliver: metrics ? countedDeliveries(deliver, metrics) : deliver,
      clock,
      retry: o.retry,
      concurrency: o.concurrency,
      perDomainConcurrency: o.perDomainConcurrency,
      hostname: settings.hostname,
      logger: logger.child({ part: "queue" }),
    });
    // Cleanups run in reverse: no new deliveries, then connections in flight are cut (and
    // journaled as deferred), then the queue's last bookkeeping is awaited.
    cleanups.push(() => queue.stop());
    if (sender) cleanups.push(() => sender.close());
    cleanups.push(() => queue.pause());
    await queue.start();
    if (metrics) queueGauges(queue, metrics, clock);

    const control = watchRequests(
      spool,
      async (request) => {
        if (request.kind === "flush") queue.flush();
        else if (!(await queue.remove(request.id))) logger.info({ queueId: request.id }, "remove: no such message");
      },
      logger,
    );
    cleanups.push(() => control.close());
    await control.poll();

    const backend = createSubmissionBackend({
      directory,
      users: () => users.current(),
      spool,
      queue,
      hostname: settings.hostname,
      trustedNetworks: trusted,
      now: () => clock.now(),
      logger,
      authFailures: { perIp: o.authFailuresPerIp, perAccount: o.authFailuresPerAccount, windowMs: o.authFailureWindow },
      ...(forwardSecret
        ? {
            forward: {
              secret: forwardSecret,
              policy: createForwardPolicy({
                users: () => users.current(),
                srs: createSrs({ key: forwardSecret.srsKey, domain: settings.managedDomain, now: () => clock.now() }),
                now: () => clock.now(),
                // Lists' posts to their remote members (inbound.lists on), checked against the directory's lists now.
                ...(settings.inbound.lists.enabled && directory.lists
                  ? {
                      lists: {
                        bounces: createListBounceAddresses({
                          key: forwardSecret.listBounceKey,
                          now: () => clock.now(),
                        }),
                        read: cachedDirectoryLists(directory.lists.bind(directory), LISTS_TTL_MS, () => clock.now()),
                        managedDomain: settings.managedDomain,
                      },
                    }
                  : {}),
              }),
            },
          }
        : {}),
    });
    const frontEnd = createSmtpFrontEnd({
      backend,
      logger,
      hostname: settings.hostname,
      maxMessageSize: o.maxMessageSize,
      ...(tls ? { tls } : {}),
      auth: {
        enabled: true,
        required: true,
        allowInsecure: (session) => plaintextAuthAllowed(session.remoteAddress, trusted),
      },
      limits: { ...deps.limits, maxRecipients: o.maxRecipients },
      ...(metrics ? { observer: metrics.observer } : {}),
    });
    const listening = await listenSmtp(frontEnd, o.listen);
    cleanups.push(() => listening.close());
    logger.info(
      {
        listen: listening.addresses.map((a) => `${a.boundAddress}:${a.boundPort}`),
        spool: o.spool,
        queued: queue.size,
      },
      "outbound listening",
    );
    const reloadTls = () => reloadListenerTls(listening, settings.tls, tls !== undefined, logger);
    return {
      addresses: listening.addresses,
      ...(metrics ? { metricsAddress: metrics.address } : {}),
      queue,
      spool,
      async reload(list) {
        await users.reload(list);
        await reloadTls();
      },
      reloadTls,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
