// The daemons image (assets/images/daemons) on a real Docker engine: built from the
// checkout on the Debian base, inbound turns healthy once it listens and stores a message
// sent to its address on the test's network; outbound turns healthy too; and it carries what
// `semail cert` runs for DNS-01 on the VM (install-zone.sh with named-checkzone, rndc).
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { dockerEngine, type DockerEngine } from "../../../testkit/docker.ts";
import { sendMessage } from "../../helpers/smtp.ts";
import { until } from "../../../testkit/until.ts";
import { USERS, provision, usersYaml } from "../../mailservers/inbound/fixture.ts";
import { buildImage, dockerScope } from "./fixture.ts";
import { IMAGE_INSTALL_ZONE } from "../../../components/acme-certificate.ts";
import { renderZone } from "../../../config/stack/zone-file.ts";

describe("the daemons image", { timeout: 20 * 60_000 }, () => {
  let engine: DockerEngine | undefined;
  let image = "";
  before(async () => {
    engine = await dockerEngine();
    image = await buildImage(engine, "daemons");
  });
  after(() => engine?.release());

  it("runs inbound: healthy once listening, and it stores mail", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    // Mounted at the same path inside, as the SmtpDaemon component mounts its host paths.
    const dir = await scope.dir("semail-daemons-");
    await writeFile(path.join(dir, "users.yaml"), usersYaml(USERS));
    const mailRoot = path.join(dir, "mail");
    await provision(mailRoot, USERS);
    const config = path.join(dir, "semail.yaml");
    await writeFile(
      config,
      stringify({
        hostname: "mx.semail.test",
        managedDomain: "semail.test",
        users: path.join(dir, "users.yaml"),
        inbound: { listen: ["0.0.0.0:2525"], mailRoot, minFreeSpace: "1MiB", greetDelay: 0 },
      }),
    );
    const id = await scope.run(["--network", network, "-v", `${dir}:${dir}`, image, "inbound", "--config", config]);
    await scope.healthy(id);
    const host = await scope.address(id, network);

    const reply = await sendMessage(2525, {
      host,
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: "Subject: from the image\r\n\r\nbody\r\n",
    });
    assert.equal(reply.code, 250, reply.lines.join(" "));
    await until(
      async () => /Subject: from the image/.test(await readFile(path.join(mailRoot, "ada", "INBOX"), "utf8")),
      "the message in ada's INBOX",
    );
  });

  it("runs outbound: healthy once listening", async (t) => {
    const scope = dockerScope(t, engine!);
    const dir = await scope.dir("semail-outbound-");
    const config = path.join(dir, "semail.yaml");
    await writeFile(path.join(dir, "users.yaml"), usersYaml(USERS));
    // Outbound refuses a wildcard address; loopback is enough for the check's sake.
    await writeFile(
      config,
      stringify({
        hostname: "mx.semail.test",
        managedDomain: "semail.test",
        users: path.join(dir, "users.yaml"),
        outbound: { listen: ["127.0.0.1:2587"], spool: path.join(dir, "spool") },
      }),
    );
    const id = await scope.run(["--network", "none", "-v", `${dir}:${dir}`, image, "outbound", "--config", config]);
    await scope.healthy(id);
  });

  // components/semail-image.ts starts containers from docker.Image's repoDigest. For an image
  // that is never pushed, pulumi-docker (provider/image.go, since its PR #739) sets repoDigest
  // to the image ID that `docker inspect` gives. What the real engine says of such an image:
  it("a never-pushed image has no repo digest, and its ID is a reference a container starts from", async (t) => {
    const scope = dockerScope(t, engine!);
    const [id, digests] = (await engine!.docker(["image", "inspect", "-f", "{{.Id}} {{len .RepoDigests}}", image]))
      .trim()
      .split(" ");
    assert.match(id!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(digests, "0", "nothing was pushed, so no registry digest exists");
    const dir = await scope.dir("semail-digest-");
    const config = path.join(dir, "semail.yaml");
    await writeFile(path.join(dir, "users.yaml"), usersYaml(USERS));
    await writeFile(
      config,
      stringify({
        hostname: "relay.semail.test",
        users: path.join(dir, "users.yaml"),
        outbound: { listen: ["127.0.0.1:2587"], spool: path.join(dir, "spool") },
      }),
    );
    const container = await scope.run([
      "--network",
      "none",
      "-v",
      `${dir}:${dir}`,
      id!,
      "outbound",
      "--config",
      config,
    ]);
    await scope.healthy(container);
    assert.equal(
      (await engine!.docker(["inspect", "-f", "{{.Image}}", container])).trim(),
      id,
      "the container runs exactly that build",
    );
  });

  it("carries what `semail cert` runs for DNS-01 on the VM: install-zone.sh at the host's path, named-checkzone, rndc", async (t) => {
    const scope = dockerScope(t, engine!);
    const dir = await scope.dir("semail-daemons-zone-");
    const zone = renderZone({ domain: "semail.test", serial: 1, ipv4: "192.0.2.25", mailboxDomains: [] });
    await writeFile(path.join(dir, "zone"), zone);
    // rndc is left out (no named here): the pebble test runs the rndc path against a real named.
    const out = await engine!.docker([
      "run",
      "--rm",
      "--network",
      "none",
      "-v",
      `${dir}:${dir}`,
      "--entrypoint",
      "sh",
      image,
      "-c",
      `command -v rndc && command -v named-checkzone && ${IMAGE_INSTALL_ZONE} semail.test --zone-dir ${dir}/bind --no-rndc < ${dir}/zone`,
    ]);
    assert.match(out, /^\/usr\/sbin\/rndc$/m);
    assert.match(out, /^\/usr\/bin\/named-checkzone$/m);
    assert.match(out, /install-zone: semail\.test serial \d+/);
    assert.match(await readFile(path.join(dir, "bind", "db.semail.test"), "utf8"), /^mx 3600 IN A 192\.0\.2\.25$/m);
  });
});
