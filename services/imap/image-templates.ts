// The IMAP image's configuration templates (assets/images/imap/*.in), rendered by
// config.ts with placeholders where the image's entrypoint puts its settings: the image
// has no Node, and one renderer keeps local mode, tests and the image the same Dovecot.
// tests/services/imap/image.test.ts checks the files in the image folder are these; to rewrite them:
//   node services/imap/image-templates.ts
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ldapSettings } from "../../config/sections/ldap.ts";
import type { ImapSettings } from "../../config/sections/imap.ts";
import { imapPaths, renderDovecotConf, renderLdapConf, renderPostLogin } from "./config.ts";

/** Where the image keeps Dovecot's state (a volume) and finds its mounts. */
export const IMAGE_STATE_DIR = "/var/lib/semail/imap";
export const IMAGE_TLS = { cert: "/etc/semail/tls/cert.pem", key: "/etc/semail/tls/key.pem" } as const;

/** Placeholders the entrypoint replaces, each from the setting it names. */
export const PLACEHOLDERS = {
  listen: "@IMAP_LISTEN@",
  trusted: "@IMAP_TRUSTED_NETWORKS@",
  mailRoot: "@IMAP_MAIL_ROOT@",
  ldapUrl: "@IMAP_LDAP_URL@",
  baseDn: "@IMAP_LDAP_BASE_DN@",
} as const;

export function imageTemplates(): Record<string, string> {
  const imap: ImapSettings = {
    listen: [PLACEHOLDERS.listen],
    imapPort: 143,
    imapsPort: 993,
    pop3sPort: 995,
    trustedNetworks: [PLACEHOLDERS.trusted],
    stateDir: IMAGE_STATE_DIR,
    maxUserConnections: 20,
  };
  // Parsed for its defaults; the URL and base DN are placeholders the schema would refuse.
  const ldap = {
    ...ldapSettings.parse({}),
    url: PLACEHOLDERS.ldapUrl,
    baseDn: PLACEHOLDERS.baseDn,
    userDnTemplate: `uid={uid},ou=people,${PLACEHOLDERS.baseDn}`,
  };
  return {
    "dovecot.conf.in": renderDovecotConf({ imap, ldap, mailRoot: PLACEHOLDERS.mailRoot, tls: IMAGE_TLS }),
    "dovecot-ldap.conf.ext.in": renderLdapConf(ldap),
    "postlogin.sh": renderPostLogin(imapPaths(IMAGE_STATE_DIR).control),
  };
}

if (import.meta.main) {
  const folder = join(import.meta.dirname, "..", "..", "assets", "images", "imap");
  for (const [name, text] of Object.entries(imageTemplates())) await writeFile(join(folder, name), text);
  process.stdout.write(`wrote ${Object.keys(imageTemplates()).join(", ")} in ${folder}\n`);
}
