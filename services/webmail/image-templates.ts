// The webmail image's templates (assets/images/webmail/*.in): Roundcube's
// configuration rendered by config.ts, nginx's by nginx.ts and php-fpm's by php-fpm.ts, with
// placeholders where the image's entrypoint puts its settings: the image has no Node, and
// one renderer keeps local mode, tests and the image the same Roundcube.
// tests/services/webmail/image.test.ts checks the files in the image folder are these;
// to rewrite them:   node services/webmail/image-templates.ts
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AUTOCONFIG_FOLDER } from "../../config/autoconfig.ts";
import { HOST_CERTIFICATES } from "../../config/sections/acme.ts";
import { MTA_STS_FOLDER } from "../../config/stack/transport-security.ts";
import { renderRoundcubeConfig } from "./config.ts";
import { renderIdentitiesScript } from "./identities.ts";
import { renderNginxConfig } from "./nginx.ts";
import { renderPhpFpmConfig } from "./php-fpm.ts";
import { ROUNDCUBE } from "./roundcube.ts";

/** Where the image keeps its state (a volume) and finds its mounts. */
export const IMAGE_STATE_DIR = "/var/lib/semail/webmail";
export const IMAGE_ADDRESS_FILE = "/etc/semail/webmail/addresses";
/** Mozilla autoconfig's documents, in the same mounted directory as the address file. */
export const IMAGE_AUTOCONFIG_DIR = `${dirname(IMAGE_ADDRESS_FILE)}/${AUTOCONFIG_FOLDER}`;
/** MTA-STS policies, in the same mounted directory. */
export const IMAGE_MTA_STS_DIR = `${dirname(IMAGE_ADDRESS_FILE)}/${MTA_STS_FOLDER}`;
/** The certificate and key nginx serves (mounted read-only). */
export const IMAGE_TLS = { cert: "/etc/semail/tls/cert.pem", key: "/etc/semail/tls/key.pem" } as const;
/** Where certbot --webroot on the host writes its challenges (mounted read-only). */
export const IMAGE_ACME_DIR = "/var/lib/semail/acme";
const IMAGE_DATABASE = `${IMAGE_STATE_DIR}/db/roundcube.sqlite`;
/** Files made at each start, not kept. */
const RUN_DIR = "/run/semail-webmail";
/** Largest attachment: well under the outbound daemon's 50 MiB message once base64 has grown it by a third. */
const UPLOAD_MIB = 25;

/** Placeholders the entrypoint replaces, each from the setting it names. */
export const PLACEHOLDERS = {
  imap: "@WEBMAIL_IMAP@",
  imapName: "@WEBMAIL_IMAP_TLS_NAME@",
  smtp: "@WEBMAIL_SMTP@",
  smtpName: "@WEBMAIL_SMTP_TLS_NAME@",
  caFile: "@WEBMAIL_CA_FILE@",
  sessionMinutes: "@WEBMAIL_SESSION_MINUTES@",
  workers: "@WEBMAIL_WORKERS@",
} as const;

/** config.inc.php.in: Roundcube's configuration. */
function roundcubeTemplate(): string {
  const text = renderRoundcubeConfig({
    // Other containers: IMAPS to Dovecot, STARTTLS to the submission, their certificates
    // checked (the CA file the entrypoint makes) for the names given.
    imapHost: `ssl://${PLACEHOLDERS.imap}`,
    imapPeer: { verify: true, caFile: PLACEHOLDERS.caFile, peerName: PLACEHOLDERS.imapName },
    smtpHost: `tls://${PLACEHOLDERS.smtp}`,
    smtpPeer: { verify: true, caFile: PLACEHOLDERS.caFile, peerName: PLACEHOLDERS.smtpName },
    desKeyFile: `${IMAGE_STATE_DIR}/des_key`,
    databaseFile: IMAGE_DATABASE,
    tempDir: `${IMAGE_STATE_DIR}/temp`,
    addressFile: IMAGE_ADDRESS_FILE,
    sessionMinutes: 30,
    // nginx in the image serves HTTPS: Secure cookies always.
    behindTls: true,
  });
  // The value that is not a string in PHP.
  const from = "$config['session_lifetime'] = 30;";
  if (!text.includes(from)) throw new Error(`image template: ${from} not found in the rendering`);
  return text.replace(from, `$config['session_lifetime'] = ${PLACEHOLDERS.sessionMinutes};`);
}

const PHP_SOCKET = `${RUN_DIR}/php-fpm.sock`;

/** nginx.conf.in: HTTPS in front of php-fpm, autoconfig on both ports (the entrypoint drops the [::] lines without IPv6). */
function nginxTemplate(): string {
  return renderNginxConfig({
    webRoot: ROUNDCUBE.webRoot,
    phpSocket: PHP_SOCKET,
    certFile: IMAGE_TLS.cert,
    keyFile: IMAGE_TLS.key,
    acmeDir: IMAGE_ACME_DIR,
    pidFile: `${RUN_DIR}/nginx.pid`,
    uploadMiB: UPLOAD_MIB,
    ipv6: true,
    autoconfigDir: IMAGE_AUTOCONFIG_DIR,
    mtaStsDir: IMAGE_MTA_STS_DIR,
    hostCertificatesDir: `${IMAGE_ACME_DIR}/${HOST_CERTIFICATES.folder}`,
  });
}

/** php-fpm.conf.in: Roundcube's PHP workers. */
function phpFpmTemplate(): string {
  return renderPhpFpmConfig({
    socket: PHP_SOCKET,
    pidFile: `${RUN_DIR}/php-fpm.pid`,
    workers: PLACEHOLDERS.workers,
    configDir: `${IMAGE_STATE_DIR}/config`,
    idleSeconds: 10,
    uploadMiB: UPLOAD_MIB,
  });
}

export function imageTemplates(): Record<string, string> {
  return {
    "config.inc.php.in": roundcubeTemplate(),
    "nginx.conf.in": nginxTemplate(),
    "php-fpm.conf.in": phpFpmTemplate(),
    "identities.php": renderIdentitiesScript(IMAGE_ADDRESS_FILE, IMAGE_DATABASE),
  };
}

if (import.meta.main) {
  const folder = join(import.meta.dirname, "..", "..", "assets", "images", "webmail");
  for (const [name, text] of Object.entries(imageTemplates())) await writeFile(join(folder, name), text);
  process.stdout.write(`wrote ${Object.keys(imageTemplates()).join(", ")} in ${folder}\n`);
}
