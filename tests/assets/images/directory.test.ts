// The directory image (assets/images/directory) on a real Docker engine: it refuses a
// missing setting by name, seeds the base DIT local mode makes, binds the admin with the
// password the deployment gives, a second container on the same data keeps it all, and a
// user added with ldapadd logs into the web form.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Client } from "ldapts";
import { directoryLayout, ldapSettings } from "../../../config/sections/ldap.ts";
import { createDirectory } from "../../../directory/ldap.ts";
import { dockerEngine, type DockerEngine } from "../../../testkit/docker.ts";
import { Client as WebClient, startForm } from "../../webform/helpers.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import { daemonSettings, plain, startDaemon } from "../../mailservers/outbound/daemon-fixture.ts";
import { buildImage, dockerScope } from "./fixture.ts";

const BASE = "dc=semail,dc=test";
const ADMIN = `cn=admin,${BASE}`;
// Spaces, quotes and a $: the password reaches slapd's hash unchanged.
const PASSWORD = `manager Secret$0 "it's"`;

async function search(
  url: string,
  base: string,
): Promise<{ dn: string; member?: string | string[] | Buffer | Buffer[] }[]> {
  const client = new Client({ url, timeout: 5000, connectTimeout: 5000 });
  try {
    await client.bind(ADMIN, PASSWORD);
    const { searchEntries } = await client.search(base, { scope: "sub", attributes: ["member"] });
    return searchEntries.map((e) => ({ dn: e.dn, member: e.member }));
  } finally {
    await client.unbind();
  }
}

describe("the directory image", { timeout: 20 * 60_000 }, () => {
  let engine: DockerEngine | undefined;
  let image = "";
  before(async () => {
    engine = await dockerEngine();
    image = await buildImage(engine, "directory");
  });
  after(() => engine?.release());

  it("refuses to start without its settings, naming the one missing", async () => {
    const refusal = (env: string[]) =>
      engine!.docker(["run", "--rm", ...env.flatMap((e) => ["-e", e]), image]).then(
        () => "started",
        (e: Error) => e.message,
      );
    assert.match(await refusal([`LDAP_ADMIN_PASSWORD=x`]), /LDAP_BASE_DN is not set/);
    assert.match(
      await refusal([`LDAP_BASE_DN=${BASE}`]),
      /LDAP_ADMIN_PASSWORD \(or LDAP_ADMIN_PASSWORD_FILE\) is not set/,
    );
    assert.match(
      await refusal([`LDAP_BASE_DN=ou=x`, "LDAP_ADMIN_PASSWORD=x"]),
      /LDAP_BASE_DN="ou=x" is not a DN of dc= parts/,
    );
  });

  it("seeds the base DIT, binds the admin, and a second container on the same data keeps the directory", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const data = await scope.dir("semail-ldap-data-");
    const env = ["-e", `LDAP_BASE_DN=${BASE}`];
    const first = await scope.run([
      "--network",
      network,
      "-v",
      `${data}:/var/lib/ldap`,
      ...env,
      "-e",
      `LDAP_ADMIN_PASSWORD=${PASSWORD}`,
      image,
    ]);
    await scope.healthy(first);
    const url = `ldap://${await scope.address(first, network)}`;

    const whoami = await promisify(execFile)("ldapwhoami", ["-x", "-H", url, "-D", ADMIN, "-w", PASSWORD], {
      timeout: 10_000,
    });
    assert.equal(whoami.stdout.trim(), `dn:${ADMIN}`);
    const wrong = await promisify(execFile)("ldapwhoami", ["-x", "-H", url, "-D", ADMIN, "-w", "wrong"], {
      timeout: 10_000,
    }).catch((e: { code: number }) => e);
    assert.equal("code" in wrong ? wrong.code : 0, 49, "a wrong password is invalidCredentials");

    const entries = await search(url, BASE);
    assert.deepEqual(
      entries.map((e) => e.dn).sort(),
      [BASE, `cn=admins,ou=groups,${BASE}`, `ou=groups,${BASE}`, `ou=people,${BASE}`].sort(),
    );
    assert.equal(entries.find((e) => e.dn.startsWith("cn=admins"))?.member, ADMIN);
    const client = new Client({ url, timeout: 5000 });
    await client.bind(ADMIN, PASSWORD);
    await client.add(`uid=carol,ou=people,${BASE}`, {
      objectClass: "inetOrgPerson",
      uid: "carol",
      cn: "Carol",
      sn: "Carol",
      userPassword: "carol-Secret4",
    });
    await client.unbind();

    // The replacement reads its password from a file, as a deployment's secret mount gives it.
    await engine!.docker(["rm", "-f", first]);
    const secret = path.join(await scope.dir("semail-ldap-secret-"), "password");
    await writeFile(secret, `${PASSWORD}\n`, { mode: 0o600 });
    const second = await scope.run([
      "--network",
      network,
      "-v",
      `${data}:/var/lib/ldap`,
      "-v",
      `${secret}:/run/secrets/ldap:ro`,
      ...env,
      "-e",
      "LDAP_ADMIN_PASSWORD_FILE=/run/secrets/ldap",
      image,
    ]);
    await scope.healthy(second);
    assert.match(await scope.logs(second), /reusing the directory of dc=semail,dc=test/);
    const kept = await search(`ldap://${await scope.address(second, network)}`, BASE);
    assert.ok(
      kept.some((e) => e.dn === `uid=carol,ou=people,${BASE}`),
      kept.map((e) => e.dn).join(", "),
    );
    assert.equal(kept.length, 5);
  });

  it("lets a user added with ldapadd log into the web form and AUTH to outbound", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const id = await scope.run([
      "--network",
      network,
      "-e",
      `LDAP_BASE_DN=${BASE}`,
      "-e",
      `LDAP_ADMIN_PASSWORD=${PASSWORD}`,
      image,
    ]);
    await scope.healthy(id);
    const url = `ldap://${await scope.address(id, network)}`;
    const ldif = `dn: uid=dora,ou=people,${BASE}\nobjectClass: inetOrgPerson\nuid: dora\ncn: Dora\nsn: Dora\nuserPassword: dora-Secret5\n`;
    await new Promise<void>((ok, fail) => {
      const child = execFile("ldapadd", ["-x", "-H", url, "-D", ADMIN, "-w", PASSWORD], { timeout: 10_000 }, (err) =>
        err ? fail(err) : ok(),
      );
      child.stdin!.end(ldif);
    });

    const { userDnTemplate, adminGroupDn } = directoryLayout(BASE);
    const directory = createDirectory(
      ldapSettings.parse({ url, baseDn: BASE, userDnTemplate, adminGroupDn, timeoutMs: 3000 }),
    );
    t.after(() => directory.close());
    const form = await startForm(t, { directory });
    const client = new WebClient(form.url);
    assert.equal((await client.login("dora", "wrong")).status, 401);
    const login = await client.login("dora", "dora-Secret5");
    assert.deepEqual([login.status, login.location], [303, "/"]);
    assert.match((await client.get("/")).text, /Signed in as <strong>dora<\/strong>/);

    // The outbound daemon's AUTH binds to the same directory.
    const dir = await scope.dir("semail-directory-outbound-");
    const settings = await daemonSettings(dir, {
      ldap: { url, baseDn: BASE, userDnTemplate, adminGroupDn, timeoutMs: 3000 },
      users: "mailboxes:\n  - {owner: dora, address: dora@semail.test}\n",
    });
    const outbound = await startDaemon(t, settings);
    const smtp = await SmtpClient.connect(outbound.port);
    t.after(() => smtp.close());
    await smtp.command("EHLO client.test");
    assert.equal((await smtp.command(`AUTH PLAIN ${plain("dora", "wrong")}`)).code, 535);
    assert.equal((await smtp.command(`AUTH PLAIN ${plain("dora", "dora-Secret5")}`)).code, 235);
    assert.equal((await smtp.command("MAIL FROM:<dora@semail.test>")).code, 250);
  });
});
