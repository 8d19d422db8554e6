// The webmail image's configuration template (provisioning/images/webmail/config.inc.php.in),
// rendered by config.ts with placeholders where the image's entrypoint puts its settings:
// the image has no Node, and one renderer keeps local mode, tests and the image the same
// Roundcube. tests/provisioning/webmail/image.test.ts checks the file in the image folder is this one;
// to rewrite it:   node provisioning/webmail/image-templates.ts
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderRoundcubeConfig } from "./config.ts";

/** Where the image keeps its state (a volume) and finds its mounts. */
export const IMAGE_STATE_DIR = "/var/lib/semail/webmail";
export const IMAGE_ADDRESS_FILE = "/etc/semail/webmail/addresses";

/** Placeholders the entrypoint replaces, each from the setting it names. */
export const PLACEHOLDERS = {
  imap: "@WEBMAIL_IMAP@",
  imapName: "@WEBMAIL_IMAP_TLS_NAME@",
  smtp: "@WEBMAIL_SMTP@",
  smtpName: "@WEBMAIL_SMTP_TLS_NAME@",
  caFile: "@WEBMAIL_CA_FILE@",
  sessionMinutes: "@WEBMAIL_SESSION_MINUTES@",
  behindTls: "@WEBMAIL_BEHIND_TLS@",
} as const;

export function imageTemplates(): Record<string, string> {
  let text = renderRoundcubeConfig({
    // Another container: STARTTLS to both, their certificates checked against the mounted CA.
    imapHost: `tls://${PLACEHOLDERS.imap}`,
    imapPeer: { verify: true, caFile: PLACEHOLDERS.caFile, peerName: PLACEHOLDERS.imapName },
    smtpHost: `tls://${PLACEHOLDERS.smtp}`,
    smtpPeer: { verify: true, caFile: PLACEHOLDERS.caFile, peerName: PLACEHOLDERS.smtpName },
    desKeyFile: `${IMAGE_STATE_DIR}/des_key`,
    databaseFile: `${IMAGE_STATE_DIR}/db/roundcube.sqlite`,
    tempDir: `${IMAGE_STATE_DIR}/temp`,
    addressFile: IMAGE_ADDRESS_FILE,
    sessionMinutes: 30,
    behindTls: true,
  });
  // The two values that are not strings in PHP.
  for (const [from, to] of [
    ["$config['session_lifetime'] = 30;", `$config['session_lifetime'] = ${PLACEHOLDERS.sessionMinutes};`],
    ["$config['use_https'] = true;", `$config['use_https'] = ${PLACEHOLDERS.behindTls};`],
  ] as const) {
    if (!text.includes(from)) throw new Error(`image template: ${from} not found in the rendering`);
    text = text.replace(from, to);
  }
  return { "config.inc.php.in": text };
}

if (import.meta.main) {
  const folder = join(import.meta.dirname, "..", "images", "webmail");
  for (const [name, text] of Object.entries(imageTemplates())) await writeFile(join(folder, name), text);
  process.stdout.write(`wrote ${Object.keys(imageTemplates()).join(", ")} in ${folder}\n`);
}
