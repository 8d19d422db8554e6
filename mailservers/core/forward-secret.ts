// The forward secret (outbound.forwardSecretFile), read by both daemons: from it come the
// password inbound logs in to outbound with to hand over forwards and returned bounces, and
// the SRS key (srs.ts). Two keys derived under two labels, so neither use gives the other.
// The file must be the deployment's secret: readable by its owner only (mode 0600).
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { ConfigError } from "../../config/settings.ts";

/**
 * The login of the forward account: ':' is in no owner uid (config/users-list.ts) and no
 * address, so no user can hold it, and the directory is never asked about it.
 */
export const FORWARD_LOGIN = "semail:forward";

/** Fewest characters the file must hold: a password guessed by no one. */
const MIN_SECRET = 32;

export interface ForwardSecret {
  /** What inbound sends as AUTH's password for FORWARD_LOGIN. */
  readonly password: string;
  /** The SRS HMAC key. */
  readonly srsKey: Buffer;
  /** The HMAC key of the mailing lists' bounce addresses (list-bounce-address.ts). */
  readonly listBounceKey: Buffer;
}

export function forwardSecretOf(secret: string): ForwardSecret {
  const derive = (label: string) => createHmac("sha256", secret).update(label).digest();
  return {
    password: derive("semail forward login").toString("hex"),
    srsKey: derive("semail srs"),
    listBounceKey: derive("semail list bounces"),
  };
}

/** Reads and checks the file; a bad one stops start-up, naming the setting. */
export async function readForwardSecret(file: string): Promise<ForwardSecret> {
  const setting = "outbound.forwardSecretFile";
  let text: string;
  try {
    const { mode } = await stat(file);
    if ((mode & 0o077) !== 0)
      throw new ConfigError(
        `${setting}: ${file} may be read by others (mode ${(mode & 0o777).toString(8)}); it is a secret: chmod 600 it`,
      );
    text = (await readFile(file, "utf8")).trim();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.length < MIN_SECRET)
    throw new ConfigError(
      `${setting}: ${file} holds ${text.length} characters; write at least ${MIN_SECRET} random ones (e.g. openssl rand -hex 32)`,
    );
  return forwardSecretOf(text);
}

/** Whether `password` is the forward account's, compared in constant time. */
export function isForwardPassword(password: string, secret: ForwardSecret): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(password), digest(secret.password));
}
