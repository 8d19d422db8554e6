// Each user's Roundcube identity follows their mailbox address in the users list: Roundcube
// copies the address file's entry only at a user's first login, so a mailbox whose address
// changed would keep a From the outbound daemon refuses. One UPDATE for both runners: local
// mode's (roundcube.ts, node:sqlite) and the image's (a PHP script rendered here, run by the
// entrypoint and after each rewrite of the address file).
import { php } from "./config.ts";

/** Parameters: the address, the address again, the owner's login. */
export const IDENTITY_UPDATE_SQL =
  "UPDATE identities SET email = ?, changed = datetime('now') WHERE del = 0 AND email <> ? AND user_id IN (SELECT user_id FROM users WHERE username = ?)";

/**
 * A PHP CLI script applying the address file (`address uid` lines, as renderAddressFile
 * writes it) to the database; prints the owners changed. Nothing to do before the database exists.
 */
export function renderIdentitiesScript(addressFile: string, databaseFile: string): string {
  return [
    "<?php",
    "// Written by SEMail (services/webmail/identities.ts): points each identity at its owner's address in the address file.",
    `$addresses = ${php(addressFile)};`,
    `$database = ${php(databaseFile)};`,
    "if (!is_file($database)) exit(0);",
    "$lines = file($addresses, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);",
    'if ($lines === false) { fwrite(STDERR, "semail-webmail: cannot read $addresses\\n"); exit(1); }',
    "$db = new PDO('sqlite:' . $database, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 5]);",
    "try {",
    "  $db->query('SELECT 1 FROM identities LIMIT 1');",
    "} catch (PDOException $e) {",
    "  exit(0); // Roundcube makes its tables at the first request.",
    "}",
    `$update = $db->prepare(${php(IDENTITY_UPDATE_SQL)});`,
    "foreach ($lines as $line) {",
    "  if ($line[0] === '#') continue;",
    "  $fields = preg_split('/\\s+/', trim($line));",
    "  if (count($fields) !== 2) continue;",
    "  [$address, $owner] = $fields;",
    "  $update->execute([$address, $address, $owner]);",
    '  if ($update->rowCount() > 0) echo "semail-webmail: identity of $owner is now $address\\n";',
    "}",
    "",
  ].join("\n");
}
