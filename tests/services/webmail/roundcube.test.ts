// The webmail runner (services/webmail/roundcube.ts) on its own: php -S with its workers
// serves the login page, stop() leaves none of them running (PHP's server does not stop its
// workers itself), reload() rewrites the address file, and as root a state directory that
// www-data cannot reach is refused by name.
import assert from "node:assert/strict";
import { chmod, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parseSettings, usersListOptions } from "../../../config/settings.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { startWebmail, webmailPaths } from "../../../services/webmail/roundcube.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && !/^\d+ \(.*\) Z/s.test(stat);
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, mode = 0o755) {
  const dir = await tempDir(t, "semail-webmail-runner-");
  await chmod(dir, mode);
  const settings = parseSettings(
    {
      imap: { listen: ["127.0.0.1"] },
      outbound: { listen: ["127.0.0.1:2587"] },
      webmail: { listen: `127.0.0.1:${await freeLoopbackPort()}`, stateDir: join(dir, "webmail"), workers: 2 },
    },
    "test",
  );
  const list = (yaml: string) => parseUsersList(yaml, usersListOptions(settings));
  return { dir, settings, list };
}

test("php -S serves the login page with its workers; stop() ends every one; reload() rewrites the addresses", async (t) => {
  const { settings, list } = await setup(t);
  const webmail = await startWebmail({
    settings,
    list: list("mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n"),
  });
  t.after(() => webmail.stop());
  const page = await fetch(webmail.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("set-cookie") ?? "", /^semail_webmail=[^;]+; path=\/; HttpOnly; SameSite=Strict/);
  assert.match(await page.text(), /id="rcmloginuser"/);
  const pids = await webmail.pids();
  assert.equal(pids.length, 3, "the server and two workers");
  const addresses = webmailPaths(settings.webmail.stateDir).addresses;
  assert.match(await readFile(addresses, "utf8"), /^alice@alice\.semail\.test alice$/m);
  await webmail.reload(list("mailboxes:\n  - {owner: bob, address: bob@bob.semail.test}\n"));
  const after = await readFile(addresses, "utf8");
  assert.match(after, /^bob@bob\.semail\.test bob$/m);
  assert.doesNotMatch(after, /alice/);
  const key = await readFile(webmailPaths(settings.webmail.stateDir).desKey, "utf8");
  await webmail.stop();
  for (const pid of pids) assert.equal(await running(pid), false, `php ${pid} stopped`);

  // A second start keeps the des_key (sessions and stored secrets stay readable).
  const again = await startWebmail({ settings, list: list("mailboxes: []\n") });
  await again.stop();
  assert.equal(await readFile(webmailPaths(settings.webmail.stateDir).desKey, "utf8"), key);
});

test("as root, a state directory www-data cannot reach is refused by name", { skip: needsRoot }, async (t) => {
  const { dir, settings, list } = await setup(t, 0o700);
  await assert.rejects(
    startWebmail({ settings, list: list("mailboxes: []\n") }),
    new RegExp(`webmail.stateDir .*: ${dir} is closed to other users .*chmod o\\+x ${dir}`),
  );
});
