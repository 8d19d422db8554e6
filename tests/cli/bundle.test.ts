// The bundle the Docker image runs (bin/bundle.ts): built afresh, started with the node
// flags of the image's ENTRYPOINT, it stores mail like the sources do, and the modules it defers
// (nodemailer's HTTP client, node:assert, pino's worker transport) stay unloaded at idle.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { before, describe, it } from "node:test";
import { stringify } from "yaml";
import { DAEMONS_DOCKERFILE, bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { startTestNamed, zoneText } from "../helpers/named.ts";
import { freePort } from "../helpers/pebble.ts";
import { sendMessage } from "../helpers/smtp.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { USERS, provision, spawnInbound, usersYaml } from "../mailservers/inbound/fixture.ts";
import { tempDir, tempDirForSuite } from "../../testkit/temp-dir.ts";

// Writes Node's list of loaded built-in modules to $SEMAIL_TEST_MODULES on SIGUSR2.
const MODULE_LIST_HOOK = `data:text/javascript,${encodeURIComponent(
  'import { writeFileSync } from "node:fs"; process.on("SIGUSR2", () => writeFileSync(process.env.SEMAIL_TEST_MODULES, process.moduleLoadList.join("\\n")));',
)}`;

describe("the bundle (npm run build)", () => {
  let entry = "";
  let nodeFlags: string[] = [];
  const build = tempDirForSuite("semail-bundle-");
  before(async () => {
    entry = await bundle(path.join(build.path, "dist"));
    nodeFlags = await imageNodeFlags();
  });

  it("builds from just what the Dockerfile copies into its build stage", async (t) => {
    const root = path.join(import.meta.dirname, "../..");
    const dockerfile = await readFile(path.join(root, DAEMONS_DOCKERFILE), "utf8");
    const start = dockerfile.indexOf(" AS build\n");
    const buildStage = dockerfile.slice(start, dockerfile.indexOf("\nFROM ", start));
    // node_modules is linked whole below (the image takes it less what .dockerignore drops).
    const copied = [...buildStage.matchAll(/^COPY (?!--from)(.+) \S+$/gm)]
      .flatMap((m) => m[1]!.split(" "))
      .filter((item) => !item.startsWith("node_modules"));
    assert.ok(copied.includes("bin") && copied.includes("mailservers"), copied.join(" "));
    const context = await tempDir(t, "semail-image-");
    for (const item of copied) await cp(path.join(root, item), path.join(context, item), { recursive: true });
    await symlink(path.join(root, "node_modules"), path.join(context, "node_modules"));
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(context, "bin/bundle.ts")], {
      cwd: context,
      timeout: 60_000,
    });
    assert.match(stdout, /built .*dist\/semail\.mjs/);
  });

  it("runs every command the image offers", async () => {
    for (const command of ["inbound", "outbound", "queue"]) {
      const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, entry, command, "--help"], {
        timeout: 20_000,
      });
      assert.match(stdout, /--config FILE/, command);
    }
    const bad = await promisify(execFile)(process.execPath, [...nodeFlags, entry, "inbound", "--listen", "localhost"], {
      timeout: 20_000,
    }).catch((e: { code: number; stderr: string }) => e);
    assert.equal("code" in bad ? bad.code : 0, 2);
    assert.match("stderr" in bad ? bad.stderr : "", /inbound\.listen\[0\]: must be ADDR:PORT/);
  });

  it("stores mail, refuses unknown users, and loads none of the deferred modules", async (t) => {
    const dir = await tempDir(t, "semail-inbound-");
    const usersFile = path.join(dir, "users.yaml");
    await writeFile(usersFile, usersYaml(USERS));
    const mailRoot = path.join(dir, "mail");
    await provision(mailRoot, USERS);
    const config = path.join(dir, "semail.yaml");
    await writeFile(
      config,
      stringify({
        managedDomain: "semail.test",
        users: usersFile,
        inbound: { listen: ["127.0.0.1:0"], mailRoot, minFreeSpace: "1MiB" },
      }),
    );
    const modules = path.join(dir, "modules.txt");
    const env = { ...process.env, SEMAIL_TEST_MODULES: modules };
    const { child, port } = await spawnInbound(t, config, {
      node: [...nodeFlags, "--import", MODULE_LIST_HOOK, entry],
      env,
    });

    child.kill("SIGUSR2");
    await until(async () => (await readFile(modules, "utf8").catch(() => "")).length > 0, "the module list");
    const loaded = (await readFile(modules, "utf8")).split("\n");
    for (const deferred of [
      "NativeModule http",
      "NativeModule https",
      "NativeModule zlib",
      "NativeModule assert",
      "NativeModule internal/deps/undici/undici",
    ]) {
      assert.ok(!loaded.includes(deferred), `${deferred} is loaded at idle`);
    }
    assert.ok(loaded.includes("NativeModule tls"), "the list is the daemon's own");

    const ok = await sendMessage(port, {
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: "Subject: from the bundle\r\n\r\nbody\r\n",
    });
    assert.equal(ok.code, 250);
    assert.match(await readFile(path.join(mailRoot, "ada", "INBOX"), "utf8"), /Subject: from the bundle/);
    const unknown = await sendMessage(port, {
      from: "a@example.org",
      to: ["nobody@semail.test"],
      data: "Subject: x\r\n\r\nx\r\n",
    });
    assert.equal(unknown.code, 550);

    // Stopping closes pino's writer, the first use of the deferred node:assert.
    child.kill("SIGTERM");
    await until(() => child.exitCode !== null, "the daemon to stop");
    assert.equal(child.exitCode, 0);
  });

  it("serves its metrics, as the daemons on the VM always do, and counts a message", async (t) => {
    const dir = await tempDir(t, "semail-inbound-");
    const usersFile = path.join(dir, "users.yaml");
    await writeFile(usersFile, usersYaml(USERS));
    const mailRoot = path.join(dir, "mail");
    await provision(mailRoot, USERS);
    const metricsPort = await freePort();
    const config = path.join(dir, "semail.yaml");
    await writeFile(
      config,
      stringify({
        managedDomain: "semail.test",
        users: usersFile,
        inbound: { listen: ["127.0.0.1:0"], mailRoot, minFreeSpace: "1MiB", metricsListen: `127.0.0.1:${metricsPort}` },
      }),
    );
    const { child, port } = await spawnInbound(t, config, { node: [...nodeFlags, entry], env: process.env });
    const sent = await sendMessage(port, {
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: "Subject: m\r\n\r\nm\r\n",
    });
    assert.equal(sent.code, 250);
    const metrics = await untilValue(async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
      const text = response?.ok ? await response.text() : "";
      return /^semail_smtp_connections_total\{[^}]*\} [1-9]/m.test(text) ? text : undefined;
    }, "the metrics to count the session");
    assert.match(metrics, /^semail_process_resident_memory_bytes/m);
    child.kill("SIGTERM");
    await until(() => child.exitCode !== null, "the daemon to stop");
  });

  it("checks arriving mail with mailauth as the sources do: SPF and DMARC pass on the test's named", async (t) => {
    const named = await startTestNamed([
      {
        name: "example.org",
        text: zoneText("example.org", ['@ IN TXT "v=spf1 ip4:127.0.0.1 -all"', '_dmarc IN TXT "v=DMARC1; p=reject"']),
      },
    ]);
    t.after(() => named.stop());
    const dir = await tempDir(t, "semail-inbound-");
    const usersFile = path.join(dir, "users.yaml");
    await writeFile(usersFile, usersYaml(USERS));
    const mailRoot = path.join(dir, "mail");
    await provision(mailRoot, USERS);
    const config = path.join(dir, "semail.yaml");
    await writeFile(
      config,
      stringify({
        hostname: "mx.semail.test",
        managedDomain: "semail.test",
        users: usersFile,
        // Loopback is checked too, on the test's named only.
        inbound: {
          listen: ["127.0.0.1:0"],
          mailRoot,
          minFreeSpace: "1MiB",
          uncheckedNetworks: [],
          resolver: named.server,
        },
      }),
    );
    const { child, port } = await spawnInbound(t, config, { node: [...nodeFlags, entry], env: process.env });
    const ok = await sendMessage(port, {
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: "From: a@example.org\r\nSubject: checked by the bundle\r\n\r\nbody\r\n",
    });
    assert.equal(ok.code, 250);
    const stored = await readFile(path.join(mailRoot, "ada", "INBOX"), "utf8");
    const field = /^Authentication-Results: mx\.semail\.test;(?:\r?\n[ \t].*)*/m.exec(stored)?.[0] ?? "";
    assert.match(field, /\bspf=pass\b/, stored);
    assert.match(field, /\bdmarc=pass\b/, stored);
    child.kill("SIGTERM");
    await until(() => child.exitCode !== null, "the daemon to stop");
  });
});
