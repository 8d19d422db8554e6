// The provider's own settings (`pulumi:providers:docker`): where Docker is and how to reach
// it. The engine hands them to Configure as `docker:config:<key>` strings, lists as JSON
// (upstream's native part reads the same map). Only what SEMail sets is taken; TLS
// material, registry auth and Docker contexts fail loudly.
import { notSupported } from "./resource-kind.ts";

export interface DockerTarget {
  /** The DOCKER_HOST the docker CLI is run with: unix:///path or ssh://[user@]host[:port][/path]. */
  readonly host: string;
  /** Extra arguments for the ssh the docker CLI runs for an ssh:// host. */
  readonly sshOpts: readonly string[];
}

const PREFIX = "docker:config:";
const TAKEN = new Set(["host", "sshOpts"]);

/** Upstream's default when neither the config nor DOCKER_HOST names a host. */
export const DEFAULT_HOST = "unix:///var/run/docker.sock";

/** Reads Configure's variables; `env` stands in for the provider's environment (DOCKER_HOST). */
export function dockerTarget(
  variables: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): DockerTarget {
  const config = new Map<string, string>();
  for (const [key, value] of variables) config.set(key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key, value);
  for (const [key, value] of config) {
    // The SDK sends an unset list or flag as the JSON of nothing.
    if (!TAKEN.has(key) && value !== "" && value !== "null")
      throw new Error(notSupported(`the provider setting "${key}"`));
  }
  const host = config.get("host") || env.DOCKER_HOST || DEFAULT_HOST;
  if (!/^(unix|ssh):\/\//.test(host))
    throw new Error(notSupported(`the Docker host ${JSON.stringify(host)} (only unix:// and ssh://)`));
  return { host, sshOpts: parseSshOpts(config.get("sshOpts")) };
}

/** The sshOpts setting: a JSON list of strings (absent or null: none). */
export function parseSshOpts(text: string | undefined): string[] {
  if (text === undefined || text === "" || text === "null") return [];
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new Error(`docker:config:sshOpts must be a list of strings, got ${text}`);
  }
  return value;
}
