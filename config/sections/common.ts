// Settings every part reads.
import { isIPv4, isIPv6 } from "node:net";
import { hostname } from "node:os";
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { SUBADDRESS_SEPARATORS } from "../subaddress.ts";
import { MAIN_HOST, hostNameProblem } from "../mailbox-host.ts";
import { domainProblem } from "../users-list.ts";
import { parseSize } from "../size.ts";
import { NETWORK_SHAPE, parseNetwork } from "../../lib/ip-networks.ts";
import { listenSpecProblem, parseListenSpec } from "../../lib/listen-spec.ts";

// zod/mini, not zod: the daemons keep their schemas for their whole life, and the full
// zod costs them about 5 MB of memory more (bench/inbound measures idle memory).
z.config(en());

export const nonEmpty = () => z.string().check(z.minLength(1));

/** An integer in [min, max]; strings too, since flags arrive as strings. */
export const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.pipe(z.coerce.number(), z.int().check(z.gte(min), z.lte(max)));

const stringOrNumber = z.union([z.string(), z.number()]);

export const size = (what: string) =>
  z.pipe(
    stringOrNumber,
    z.transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes === undefined) {
        ctx.issues.push({
          code: "custom",
          input: value,
          message: `${JSON.stringify(value)} is not a ${what}: write e.g. 5GiB, 512MiB or a byte count`,
        });
        return z.NEVER;
      }
      return bytes;
    }),
  );

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds in "90s", "30m", "4h", "5d" (or a plain count of milliseconds); undefined if not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? "ms"]!);
  // So many digits that the number is Infinity: no duration (regression input of fuzz/targets/settings.ts).
  return Number.isFinite(ms) ? ms : undefined;
}

export const duration = z.pipe(
  stringOrNumber,
  z.transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.issues.push({
        code: "custom",
        input: value,
        message: `${JSON.stringify(value)} is not a duration: write e.g. 90s, 30m, 4h or 5d`,
      });
      return z.NEVER;
    }
    return ms;
  }),
);

export const domainName = z.pipe(
  z.string(),
  z.transform((value, ctx) => {
    const lower = value.toLowerCase().replace(/\.$/, "");
    const problem = domainProblem(lower);
    if (problem) {
      ctx.issues.push({ code: "custom", input: value, message: problem });
      return z.NEVER;
    }
    return lower;
  }),
);

/** "ADDR:PORT", "[v6]:PORT"; a "/tls" suffix asks for implicit TLS where a part supports it. Parsed here, once. */
export const listenAddress = z.pipe(
  z.string(),
  z.transform((value, ctx) => {
    const problem = listenSpecProblem(value);
    if (problem !== undefined) {
      ctx.issues.push({ code: "custom", input: value, message: problem });
      return z.NEVER;
    }
    return parseListenSpec(value);
  }),
);

/** Where a daemon serves its metrics: plain HTTP, so never a "/tls" listener. */
export const metricsAddress = listenAddress.check(
  z.refine((spec) => !spec.implicitTls, { message: "is plain HTTP: drop the /tls" }),
);

/** "10.0.0.0/8", "fd00::/64" or a single address, parsed here, once. */
export const network = z.pipe(
  z.string(),
  z.transform((value, ctx) => {
    const parsed = parseNetwork(value);
    if (parsed === undefined) {
      ctx.issues.push({ code: "custom", input: value, message: `must be ${NETWORK_SHAPE}` });
      return z.NEVER;
    }
    return parsed;
  }),
);

/** "HOST:PORT" or "[v6]:PORT" of the outbound daemon's submission (the web form shows it; inbound hands authenticated mail to it). */
/** "HOST:PORT" or "[v6]:PORT", `message` saying what it is. */
const hostPort = (message: string) =>
  z
    .string()
    .check(
      z.regex(
        /^([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9a-fA-F:.]+\]):([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/,
        { message },
      ),
    );

/** "HOST:PORT" or "[v6]:PORT" of the outbound daemon's submission (the web form shows it; inbound hands authenticated mail to it). */
export const submissionAddress = hostPort(
  "must be HOST:PORT of the outbound daemon's submission, such as semail-outbound:587 or 127.0.0.1:2587",
);

/** A SEMail host's name (config/mailbox-host.ts). */
const hostName = z
  .string()
  .check(z.refine((name) => hostNameProblem(name) === undefined, { message: "must be a host name: a-z, 0-9 and '-'" }));

/** Another SEMail host sharing the users list: where its mail goes and how a move reaches its mail root. */
const peerHost = z.strictObject({
  /** Its inbound daemon ("HOST:PORT"): mail for its mailboxes that reaches this host is handed on there. */
  smtp: hostPort("must be HOST:PORT of that host's inbound daemon, such as mx2.example.net:25 or 127.0.0.1:2525"),
  /** The name its mailboxes' domains get as MX. */
  mx: domainName,
  /** Its addresses, for the A and AAAA records of `mx` when that name is in the managed domain's zone. */
  ip: z.optional(z.string().check(z.refine((a) => isIPv4(a), { message: "must be an IPv4 address" }))),
  ip6: z.optional(z.string().check(z.refine((a) => isIPv6(a), { message: "must be an IPv6 address" }))),
  /** Its mail root, where `semail mailbox move` copies a mailbox to. */
  mailRoot: nonEmpty(),
  /** Its users list file, which `semail mailbox move` writes as it writes ours; absent: the hosts share one file, or a deploy brings it. */
  users: z.optional(nonEmpty()),
  /** "user@host" or "user@host:port" to reach mailRoot by SSH (rsync); absent: mailRoot is a path here (the same machine, or mounted). */
  ssh: z.optional(
    z
      .string()
      .check(
        z.regex(/^[a-z_][a-z0-9_-]*@[A-Za-z0-9.-]+(:\d{1,5})?$/, { message: "must be user@host or user@host:port" }),
      ),
  ),
  /**
   * How its mailbox filesystems are made, as its Pulumi stack's storageBackend says: {vg: NAME}
   * (a logical volume each) or {imageDir: DIR} (an image file each). Set: `semail mailbox move`
   * makes the mailbox's filesystem there with mailbox-fs.sh create (as root: ssh's user is root)
   * before copying, and the program's own create later finds it. Absent: the root must exist.
   */
  storage: z.optional(
    z.union(
      [
        z.strictObject({
          vg: z.string().check(z.regex(/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/, { message: "must be a volume group name" })),
        }),
        z.strictObject({
          imageDir: z.string().check(z.regex(/^\/[A-Za-z0-9._/-]*$/, { message: "must be an absolute path" })),
        }),
      ],
      { message: "must be {vg: NAME} (LVM) or {imageDir: DIR} (image files), as that host's storageBackend" },
    ),
  ),
});

export const commonSettings = {
  /** Our own host name: SMTP greeting, Received headers, EHLO. */
  hostname: z._default(nonEmpty(), hostname()),
  /** The managed domain; user subdomains live under it. */
  managedDomain: z._default(domainName, "semail.test"),
  /** Path of the users list (YAML). */
  users: z._default(nonEmpty(), "/etc/semail/users.yaml"),
  /** This host's name among the SEMail hosts sharing the users list: entries with another `host` are theirs. */
  hostName: z._default(hostName, MAIN_HOST),
  /** The other SEMail hosts, by name (semail mailbox move); none for a single host. */
  hosts: z._default(z.record(hostName, peerHost), {}),
  /** Sub-addressing: `id+tag@domain` reaches `id@domain` (config/subaddress.ts); "" turns it off. */
  subaddressSeparator: z._default(z.enum(SUBADDRESS_SEPARATORS), "+"),
  /** Size of a mailbox whose entry gives none. */
  defaultMailboxSize: z._default(size("size"), 5 * 1024 ** 3),
  /** Smallest mailbox size accepted in the users list. */
  minMailboxSize: z._default(size("size"), 64 * 1024 ** 2),
  tls: z._default(
    z
      .strictObject({
        /** PEM certificate chain. */
        cert: z.optional(nonEmpty()),
        /** PEM private key. */
        key: z.optional(nonEmpty()),
      })
      .check(
        z.refine((t) => (t.cert === undefined) === (t.key === undefined), {
          message: "tls.cert and tls.key go together: set both or neither",
        }),
      ),
    {},
  ),
  log: z._default(
    z.strictObject({
      level: z._default(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
    }),
    { level: "info" as const },
  ),
};
