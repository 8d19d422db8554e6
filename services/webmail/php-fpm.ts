// php-fpm's configuration for the webmail image (assets/images/webmail): one pool
// running Roundcube as www-data, at most `workers` PHP processes. Pure.
//
// pm = ondemand: a worker is forked from the master at the first request and ends after
// `idleSeconds` without one, so an idle webmail holds only the master (the VM is small);
// the opcode cache lives in the master's shared memory, so a new worker compiles nothing.
import { PHP_FLAGS } from "./roundcube.ts";

export interface PhpFpmConfig {
  /** Unix socket nginx passes requests to. */
  readonly socket: string;
  readonly pidFile: string;
  /** At most this many PHP workers (pm.max_children). */
  readonly workers: number | string;
  /** Roundcube's configuration directory (ROUNDCUBE_CONFIG_DIR). */
  readonly configDir: string;
  /** Seconds a worker waits for a request before it ends. */
  readonly idleSeconds: number;
  /** Largest upload (an attachment), in MiB; a request may be 1 MiB more. */
  readonly uploadMiB: number;
}

/** `-d key=value` pairs as `key = value`: local mode's php -S flags, so both run PHP alike. */
function phpFlagSettings(): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < PHP_FLAGS.length; i += 2) {
    const [key, value] = PHP_FLAGS[i + 1]!.split("=") as [string, string];
    pairs.push([key, value]);
  }
  return pairs;
}

export function renderPhpFpmConfig(c: PhpFpmConfig): string {
  const php: Array<[string, string]> = [
    ...phpFlagSettings(),
    ["upload_max_filesize", `${c.uploadMiB}M`],
    ["post_max_size", `${c.uploadMiB + 1}M`],
    // No version in a header.
    ["expose_php", "Off"],
    // PHP's warnings once, in php-fpm's log (not also sent to nginx by FastCGI, which logs them again).
    ["fastcgi.logging", "0"],
  ];
  return [
    "; Written by SEMail (services/webmail/php-fpm.ts); edits are overwritten.",
    "[global]",
    `pid = ${c.pidFile}`,
    // The container's stderr: docker logs.
    "error_log = /proc/self/fd/2",
    "log_limit = 8192",
    "daemonize = no",
    "",
    "[roundcube]",
    "user = www-data",
    "group = www-data",
    `listen = ${c.socket}`,
    "listen.owner = www-data",
    "listen.group = www-data",
    "listen.mode = 0660",
    "pm = ondemand",
    `pm.max_children = ${c.workers}`,
    `pm.process_idle_timeout = ${c.idleSeconds}s`,
    "pm.max_requests = 500",
    // Roundcube's log (log_driver stdout) reaches docker logs as it is.
    "catch_workers_output = yes",
    "decorate_workers_output = no",
    "clear_env = yes",
    `env[ROUNDCUBE_CONFIG_DIR] = ${c.configDir}`,
    ...php.map(([key, value]) => `php_admin_value[${key}] = ${value}`),
    "",
  ].join("\n");
}
