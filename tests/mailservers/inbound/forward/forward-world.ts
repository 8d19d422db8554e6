// The real daemons around a forward: inbound (which forwards), outbound (which relays with
// the forward account) and, standing in for the Internet, a router on loopback that outbound
// relays everything to: mail for our domain goes back into inbound (as our MX), mail for
// `routesBack` addresses too (a destination that forwards back to us), the rest to a sink
// that records it and may refuse a recipient (a bounce). Given a directory, both daemons serve
// its mailing lists (inbound delivers posts, outbound sends their remote members' copies).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { TestContext } from "node:test";
import { SMTPServer } from "smtp-server";
import { silentLogger } from "../../../../lib/logger.ts";
import { createSrs, type Srs } from "../../../../mailservers/core/srs.ts";
import { forwardSecretOf } from "../../../../mailservers/core/forward-secret.ts";
import { startInbound, type RunningInbound } from "../../../../mailservers/inbound/daemon.ts";
import { startOutbound, type RunningOutbound } from "../../../../mailservers/outbound/daemon.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";
import { sendMessage, type Reply } from "../../../helpers/smtp.ts";
import { startTarget, type Target } from "../../../helpers/target-smtp.ts";
import { daemonSettings } from "../../outbound/daemon-fixture.ts";
import { provision, testSettings } from "../fixture.ts";

export const SECRET = "0123456789abcdef0123456789abcdef-test-forward-secret";

export interface RoutedMessage {
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  /** Where the router sent it and what it answered. */
  readonly reply: Reply;
}

export interface ForwardWorld {
  readonly inbound: RunningInbound;
  readonly outbound: RunningOutbound;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly mailRoot: string;
  /** The Internet's other side: what reached an address elsewhere. */
  readonly sink: Target;
  /** Everything outbound relayed, in order, with the reply it got. */
  readonly routed: RoutedMessage[];
  /** The SRS both daemons use, to check an envelope sender. */
  readonly srs: Srs;
}

/** Dot-stuffing undone by the router's server, done again for the next hop. */
const stuffed = (raw: Buffer) => Buffer.from(raw.toString("latin1").replace(/^\./gm, ".."), "latin1");

export async function startForwardWorld(
  t: TestContext,
  world: {
    /** The users list (YAML) both daemons serve. */
    usersYaml: string;
    owners: readonly string[];
    /** Addresses elsewhere whose server forwards back to one of ours. */
    routesBack?: Record<string, string>;
    /** Addresses elsewhere that do not exist (550 at RCPT); the set may change while the world runs. */
    unknown?: ReadonlySet<string> | readonly string[];
    /** The directory both daemons use (ldap settings): inbound serves its mailing lists, refreshed every 200 ms. */
    ldap?: Record<string, unknown>;
  },
): Promise<ForwardWorld> {
  const dir = await tempDir(t, "semail-forward-");
  const secretFile = path.join(dir, "forward.secret");
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const unknown = world.unknown instanceof Set ? world.unknown : new Set(world.unknown ?? []);
  const sink = await startTarget({
    host: "127.0.0.1",
    rcpt: (address) => (unknown.has(address) ? [550, "5.1.1 No such user"] : undefined),
  });
  t.after(() => sink.close());

  const routed: RoutedMessage[] = [];
  let inboundPort = 0;
  const router = new SMTPServer({
    logger: false,
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        const back = recipients.map((r) => world.routesBack?.[r] ?? (r.endsWith("@semail.test") ? r : undefined));
        const toUs = back.every((r) => r !== undefined);
        void sendMessage(toUs ? inboundPort : sink.port, {
          from: mailFrom,
          to: toUs ? (back as string[]) : recipients,
          data: stuffed(Buffer.concat(chunks)),
          helo: "router.test",
        }).then(
          (reply) => {
            routed.push({ mailFrom, recipients, reply });
            const error = Object.assign(new Error(`${reply.text}`), { responseCode: reply.code });
            callback(reply.code === 250 ? null : error, reply.text);
          },
          (err: unknown) => callback(err as Error),
        );
      });
    },
  });
  router.on("error", () => {});
  await new Promise<void>((resolve) => router.listen(0, "127.0.0.1", () => resolve()));
  t.after(() => new Promise<void>((resolve) => router.close(() => resolve())));
  const routerPort = (router.server.address() as { port: number }).port;

  const outDir = path.join(dir, "outbound");
  await mkdir(outDir);
  const outSettings = await daemonSettings(outDir, {
    users: world.usersYaml,
    top: { managedDomain: "semail.test", ...(world.ldap ? { inbound: { lists: { enabled: true } } } : {}) },
    ...(world.ldap ? { ldap: world.ldap } : {}),
    outbound: {
      forwardSecretFile: secretFile,
      delivery: { relayHost: { host: "127.0.0.1", port: routerPort } },
    },
  });
  const outbound = await startOutbound(outSettings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
  t.after(() => outbound.stop());
  const outboundPort = outbound.addresses[0]!.boundPort;

  const inSettings = testSettings(
    dir,
    {
      submission: { outbound: `127.0.0.1:${outboundPort}` },
      ...(world.ldap ? { lists: { enabled: true, refresh: 200 } } : {}),
    },
    { outbound: { forwardSecretFile: secretFile }, ...(world.ldap ? { ldap: world.ldap } : {}) },
  );
  await writeFile(inSettings.users, world.usersYaml);
  await provision(
    inSettings.inbound.mailRoot,
    world.owners.map((owner) => ({ owner, address: "" })),
  );
  const inbound = await startInbound(inSettings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
  t.after(() => inbound.stop());
  inboundPort = inbound.addresses[0]!.boundPort;

  const srs = createSrs({ key: forwardSecretOf(SECRET).srsKey, domain: "semail.test", now: Date.now });
  return {
    inbound,
    outbound,
    inboundPort,
    outboundPort,
    mailRoot: inSettings.inbound.mailRoot,
    sink,
    routed,
    srs,
  };
}
