// The whole local data lost: `semail backup` (the command, with real restic and the real slapcat
// of a running slapd) while the inbound daemon holds mail, then every file the settings name and
// every mailbox deleted, then `semail restore`: each file comes back byte for byte, the directory
// as the LDIF slapcat gives now, and the retention keeps what it says. The password is in a file
// and shows up in no output.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { readMbox, startFixture, USERS, usersYaml } from "../../mailservers/inbound/fixture.ts";
import { slapdForFile } from "../../helpers/slapd.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { selfSignedPem } from "../../../testkit/tls.ts";
import { backupSection, deliver, filesBelow } from "./fixture.ts";

const run = promisify(execFile);
const slapd = slapdForFile();

async function semail(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [repoPath("bin/semail.mjs"), ...args], { timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("semail backup, then semail restore of everything", () => {
  it("brings back every mailbox, file and key byte for byte, and the directory's LDIF", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "semail-restore-all-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const at = (...p: string[]) => path.join(dir, ...p);
    const backup = { ...(await backupSection(at("vault"))), keepDaily: 1, keepWeekly: 0, keepMonthly: 0 };
    const slapcat = ["slapcat", "-f", path.join(slapd.dataDir, "slapd.conf")];
    const raw = {
      hostname: "mx.semail.test",
      users: at("etc", "users.yaml"),
      minMailboxSize: 1,
      tls: { cert: at("etc", "tls", "cert.pem"), key: at("etc", "tls", "key.pem") },
      inbound: { listen: ["127.0.0.1:0"], mailRoot: at("mail") },
      outbound: {
        spool: at("spool"),
        delivery: {
          dkim: [{ domain: "semail.test", selector: "mail", privateKeyFile: at("etc", "dkim", "mail.pem") }],
        },
      },
      acme: { stateDir: at("acme"), accountKey: at("etc", "acme", "account.key") },
      backup: { ...backup, slapcat, pulumiStateDir: at("pulumi") },
      log: { level: "silent" },
    };
    const config = at("vault", "semail.yaml");
    await writeFile(config, stringify(raw));
    const pem = await selfSignedPem("mx.semail.test");
    const kept: Record<string, string> = {
      [at("etc", "tls", "cert.pem")]: pem.cert,
      [at("etc", "tls", "key.pem")]: pem.key,
      [at("etc", "dkim", "mail.pem")]: "-----BEGIN PRIVATE KEY-----\ndkim key\n",
      [at("etc", "acme", "account.key")]: "-----BEGIN PRIVATE KEY-----\nacme key\n",
      [at("acme", "status.json")]: '{"outcome":"current"}\n',
      [at("spool", "msg", "0001")]: "a queued message\r\n",
      [at("pulumi", ".pulumi", "stacks", "semail", "prod.json")]: '{"version":3}\n',
    };
    for (const [file, text] of Object.entries(kept)) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text, { mode: 0o600 });
    }
    await mkdir(at("etc"), { recursive: true });
    const f = await startFixture(t, { inbound: { mailRoot: at("mail") }, settings: raw });
    kept[at("etc", "users.yaml")] = usersYaml(USERS);
    for (let i = 0; i < 4; i++) assert.ok(await deliver(f.port, "ada@semail.test", `ada-${i}`));
    for (let i = 0; i < 2; i++) assert.ok(await deliver(f.port, "me@external.example", `ext-${i}`));
    const mailBefore = await filesBelow(at("mail", "ada"));
    const extBefore = await filesBelow(at("mail", "ext"));

    const first = await semail("backup", "--config", config);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /^snapshot [0-9a-f]{8}: 4 mailboxes/);
    const second = await semail("backup", "--config", config, "--json");
    assert.equal(second.code, 0, second.output);
    const snapshot = (JSON.parse(second.output) as { snapshot: string }).snapshot;
    const list = await semail("backup", "list", "--config", config, "--json");
    assert.deepEqual(
      (JSON.parse(list.output) as Array<{ short_id: string }>).map((s) => s.short_id),
      [snapshot],
      "keepDaily 1 left the newest snapshot alone",
    );
    await f.daemon.stop();

    for (const gone of ["etc", "mail", "spool", "acme", "pulumi", path.join("vault", "backup-state")])
      await rm(at(gone), { recursive: true, force: true });
    const restored = await semail("restore", "--config", config);
    assert.equal(restored.code, 0, restored.output);
    assert.match(restored.output, new RegExp(`restored from snapshot ${snapshot}`));

    for (const [file, text] of Object.entries(kept)) assert.equal(await readFile(file, "utf8"), text, file);
    assert.deepEqual(await filesBelow(at("mail", "ada")), mailBefore);
    assert.deepEqual(await filesBelow(at("mail", "ext")), extBefore);
    assert.deepEqual(
      (await readMbox(at("mail", "ada", "INBOX"))).map((m) => m.subject),
      ["ada-0", "ada-1", "ada-2", "ada-3"],
    );
    const ldif = await readFile(at("vault", "backup-state", "restored-directory.ldif"), "utf8");
    assert.equal(ldif, (await run(slapcat[0]!, slapcat.slice(1))).stdout);
    assert.match(ldif, /^dn: uid=alice,/m);
    const password = await readFile(backup.passwordFile, "utf8");
    for (const output of [first.output, second.output, list.output, restored.output])
      assert.ok(!output.includes(password.trim()), "the password is in no output");
  });

  it("says what to set when no repository is configured", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "semail-backup-unset-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, "semail.yaml"), stringify({ log: { level: "silent" } }));
    const result = await semail("backup", "--config", path.join(dir, "semail.yaml"));
    assert.equal(result.code, 2);
    assert.match(result.output, /backup\.repository and backup\.passwordFile: set where restic keeps the backups/);
  });
});
