// Roundcube's configuration as services/webmail/config.ts renders it: valid PHP, one
// locked identity from the address file, certificates unchecked only on loopback, the
// password never sent in the clear off this machine, no plugin but virtuser_file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parseSettings } from "../../../config/settings.ts";
import { php, renderRoundcubeConfig, type RoundcubeConfig } from "../../../services/webmail/config.ts";
import { localEndpoints } from "../../../services/webmail/roundcube.ts";

const run = promisify(execFile);
const BASE: RoundcubeConfig = {
  imapHost: "tls://127.0.0.1:143",
  imapPeer: { verify: false },
  smtpHost: "127.0.0.1:587",
  smtpPeer: { verify: false },
  desKeyFile: "/var/lib/semail/webmail/des_key",
  databaseFile: "/var/lib/semail/webmail/db/roundcube.sqlite",
  tempDir: "/var/lib/semail/webmail/temp",
  addressFile: "/var/lib/semail/webmail/addresses",
  sessionMinutes: 30,
  behindTls: false,
};

/** The $config array PHP builds from the rendered text (des_key read from `key`). */
async function evaluate(text: string, key = "k".repeat(32)): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), "semail-webmail-config-"));
  try {
    await writeFile(join(dir, "des_key"), `${key}\n`);
    await writeFile(join(dir, "config.inc.php"), text.replace(php(BASE.desKeyFile), php(join(dir, "des_key"))));
    const { stdout } = await run("php", ["-r", `include '${dir}/config.inc.php'; echo json_encode($config);`], {
      timeout: 10_000,
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("the rendered configuration is PHP whose settings are SEMail's", async () => {
  const config = await evaluate(renderRoundcubeConfig(BASE));
  assert.equal(config.imap_host, "tls://127.0.0.1:143");
  assert.deepEqual(config.imap_conn_options, { ssl: { verify_peer: false, verify_peer_name: false } });
  assert.equal(config.smtp_host, "127.0.0.1:587");
  assert.equal(config.smtp_user, "%u");
  assert.equal(config.smtp_pass, "%p");
  assert.deepEqual(config.plugins, ["virtuser_file"]);
  assert.equal(config.identities_level, 3, "one identity, its address not editable");
  assert.equal(config.des_key, "k".repeat(32), "read from its file, not written into the configuration");
  assert.equal(config.db_dsnw, "sqlite:////var/lib/semail/webmail/db/roundcube.sqlite?mode=0600");
  assert.equal(config.session_lifetime, 30);
  assert.equal(config.session_samesite, "Strict");
  assert.equal(config.ip_check, true);
  assert.equal(config.use_https, false);
  assert.equal(config.enable_spellcheck, false);
  assert.equal(config.enable_installer, false);
  assert.equal(config.login_username_filter, "/^[A-Za-z0-9._-]+(@[A-Za-z0-9.-]+)?$/");
  // The filter as PHP applies it: a uid or an address, nothing a DN, a filter or IMAP quoting would read.
  const { stdout } = await run("php", [
    "-r",
    `foreach (['alice', 'Alice@Alice.semail.test', 'a.b_c-d', 'alice@', '@x', 'a@b@c', 'alice,ou=x', 'a*', 'a b', '"a"'] as $u) echo preg_match(${php(String(config.login_username_filter))}, $u), "\\n";`,
  ]);
  assert.deepEqual(stdout.trim().split("\n"), ["1", "1", "1", "0", "0", "0", "0", "0", "0", "0"]);
  assert.equal(config.temp_dir, "/var/lib/semail/webmail/temp/");
});

test("certificates go unchecked only on loopback; a password never crosses a network in the clear", async () => {
  const remote = {
    ...BASE,
    imapHost: "tls://semail-imap:143",
    imapPeer: { verify: true, caFile: "/etc/semail/tls/ca.pem", peerName: "imap.semail.email" },
  } as const;
  const config = await evaluate(renderRoundcubeConfig({ ...remote, behindTls: true }));
  assert.deepEqual(config.imap_conn_options, {
    ssl: {
      verify_peer: true,
      verify_peer_name: true,
      cafile: "/etc/semail/tls/ca.pem",
      peer_name: "imap.semail.email",
    },
  });
  assert.equal(config.use_https, true);
  assert.throws(
    () => renderRoundcubeConfig({ ...BASE, imapHost: "tls://semail-imap:143" }),
    /semail-imap:143 is not on loopback, so its certificate must be checked/,
  );
  assert.throws(
    () => renderRoundcubeConfig({ ...BASE, imapHost: "127.0.0.1:143" }),
    /must be tls:\/\/HOST:PORT or ssl:\/\/HOST:PORT/,
  );
  assert.throws(
    () => renderRoundcubeConfig({ ...BASE, smtpHost: "semail-outbound:587" }),
    /not on loopback: use tls:\/\/HOST:PORT/,
  );
  // A quote in a path cannot end the PHP string.
  const odd = await evaluate(renderRoundcubeConfig({ ...BASE, tempDir: "/tmp/it's\\here" }));
  assert.equal(odd.temp_dir, "/tmp/it's\\here/");
});

test("local mode's endpoints: Dovecot's STARTTLS port and the first IPv4 submission listener, on loopback", () => {
  const settings = parseSettings(
    { imap: { listen: ["*", "::"], imapPort: 1143 }, outbound: { listen: ["[::1]:2587", "127.0.0.1:2587"] } },
    "test",
  );
  assert.deepEqual(localEndpoints(settings), {
    imapHost: "tls://127.0.0.1:1143",
    imapPeer: { verify: false },
    smtpHost: "127.0.0.1:2587",
    smtpPeer: { verify: false },
  });
  assert.throws(() => localEndpoints(parseSettings({ imap: { imapPort: 0 } }, "test")), /imap\.imapPort is 0/);
});
