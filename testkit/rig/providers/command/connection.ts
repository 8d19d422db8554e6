// `connection` (and its one `proxy` hop): checked as upstream's schema does, with upstream's
// defaults written into the inputs (user root, port 22, 10 dial errors, 15 s per dial) and the
// whole connection kept secret, then read into plain settings for ssh when a command runs.
import { checkShapes, type Shape } from "./input-shapes.ts";
import { notSupported, type CheckFailure, type CheckResult } from "./resource-kind.ts";
import { isUnknown, reveal, secret, unwrapSecret, type Props } from "./wire-values.ts";

export interface SshEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: string;
  /** authorized_keys form; when absent any host key is accepted (upstream ignores it). */
  readonly hostKey?: string;
  /** Dial errors allowed before giving up; -1 for "unlimited". */
  readonly dialErrorLimit: number;
  /** Seconds per dial; 0 for no limit. */
  readonly perDialTimeout: number;
}

export interface SshConnection extends SshEndpoint {
  /** One jump host. */
  readonly proxy?: SshEndpoint;
}

const DEFAULTS: Props = { user: "root", port: 22, dialErrorLimit: 10, perDialTimeout: 15 };

const ENDPOINT_SHAPES: Record<string, Shape> = {
  host: "string",
  port: "number",
  user: "string",
  privateKey: "string",
  hostKey: "string",
  dialErrorLimit: "integer",
  perDialTimeout: "integer",
};

const WHY_UNSUPPORTED: Record<string, string> = {
  password: "a password (use privateKey)",
  privateKeyPassword: "an encrypted private key",
  agentSocketPath: "an SSH agent (use privateKey)",
};

function checkEndpoint(
  value: unknown,
  path: string,
  shapes: Record<string, Shape>,
): { value: unknown; failures: CheckFailure[] } {
  const plain = unwrapSecret(value);
  if (isUnknown(plain)) return { value, failures: [] };
  if (typeof plain !== "object" || plain === null || Array.isArray(plain)) {
    return { value, failures: [{ property: path, reason: `"${path}" must be an object` }] };
  }
  const props = plain as Props;
  const failures = Object.keys(props)
    .filter((k) => WHY_UNSUPPORTED[k] !== undefined && props[k] !== undefined && props[k] !== null)
    .map((k) => ({ property: `${path}.${k}`, reason: notSupported(`${WHY_UNSUPPORTED[k]} ("${path}.${k}")`) }));
  const known = Object.fromEntries(Object.entries(props).filter(([k]) => WHY_UNSUPPORTED[k] === undefined));
  failures.push(...checkShapes(known, shapes, ["host"], `${path}.`));
  const withDefaults: Props = { ...props };
  for (const [k, v] of Object.entries(DEFAULTS))
    if (withDefaults[k] === undefined || withDefaults[k] === null) withDefaults[k] = v;
  return { value: withDefaults, failures };
}

/** Check of `connection`: failures, and the value to keep (defaults in, the whole secret). */
export function checkConnection(value: unknown): { value: unknown; failures: CheckFailure[] } {
  const top = checkEndpoint(value, "connection", { ...ENDPOINT_SHAPES, proxy: "object" });
  // Unknown (preview) or not an object (a failure already): kept as it came.
  if (top.value === value) return top;
  const props = top.value as Props;
  const hop =
    props.proxy === undefined || props.proxy === null
      ? undefined
      : checkEndpoint(props.proxy, "connection.proxy", ENDPOINT_SHAPES);
  return {
    value: secret(hop ? { ...props, proxy: hop.value } : props),
    failures: [...top.failures, ...(hop?.failures ?? [])],
  };
}

/** A resource's check with its `connection` checked too, beside the `failures` of the rest. */
export function withCheckedConnection(news: Props, failures: readonly CheckFailure[]): CheckResult {
  if (news.connection === undefined || news.connection === null) {
    return {
      inputs: news,
      failures: [...failures, { property: "connection", reason: 'missing required property "connection"' }],
    };
  }
  const checked = checkConnection(news.connection);
  return { inputs: { ...news, connection: checked.value }, failures: [...failures, ...checked.failures] };
}

function endpoint(props: Props, path: string): SshEndpoint {
  const { host, port, user, privateKey, hostKey, dialErrorLimit, perDialTimeout } = { ...DEFAULTS, ...props };
  if (typeof host !== "string" || host === "") throw new Error(`${path}.host is missing`);
  if (typeof privateKey !== "string" || privateKey === "")
    throw new Error(notSupported(`a connection without privateKey ("${path}.privateKey")`));
  return {
    host,
    port: Number(port),
    user: String(user),
    privateKey,
    ...(typeof hostKey === "string" ? { hostKey } : {}),
    dialErrorLimit: Number(dialErrorLimit),
    perDialTimeout: Number(perDialTimeout),
  };
}

/** The settings ssh runs with, from a known `connection` value. */
export function sshConnection(value: unknown): SshConnection {
  const props = reveal(value);
  if (typeof props !== "object" || props === null) throw new Error("connection is missing");
  const { proxy } = props as Props;
  return {
    ...endpoint(props as Props, "connection"),
    ...(typeof proxy === "object" && proxy !== null ? { proxy: endpoint(proxy as Props, "connection.proxy") } : {}),
  };
}
