<?php
// Written by SEMail (services/webmail/identities.ts): points each identity at its owner's address in the address file.
$addresses = '/etc/semail/webmail/addresses';
$database = '/var/lib/semail/webmail/db/roundcube.sqlite';
if (!is_file($database)) exit(0);
$lines = file($addresses, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
if ($lines === false) { fwrite(STDERR, "semail-webmail: cannot read $addresses\n"); exit(1); }
$db = new PDO('sqlite:' . $database, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 5]);
try {
  $db->query('SELECT 1 FROM identities LIMIT 1');
} catch (PDOException $e) {
  exit(0); // Roundcube makes its tables at the first request.
}
$update = $db->prepare('UPDATE identities SET email = ?, changed = datetime(\'now\') WHERE del = 0 AND email <> ? AND user_id IN (SELECT user_id FROM users WHERE username = ?)');
foreach ($lines as $line) {
  if ($line[0] === '#') continue;
  $fields = preg_split('/\s+/', trim($line));
  if (count($fields) !== 2) continue;
  [$address, $owner] = $fields;
  $update->execute([$address, $address, $owner]);
  if ($update->rowCount() > 0) echo "semail-webmail: identity of $owner is now $address\n";
}
