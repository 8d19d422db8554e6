// The containers check against a real dockerd (testkit/docker.ts): containers from the
// project's Debian base image with a health check stand in for a daemon's and each mailbox's.
// Running and healthy, each is OK; stopped, unhealthy or missing, each FAILs with its fix;
// an engine that does not answer is one FAIL; with no engine set the check is not applicable.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parseSettings } from "../../../config/settings.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { containerFindings } from "../../../services/report/checks/containers.ts";
import { dockerEngine, withLock, type DockerEngine } from "../../../testkit/docker.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { until } from "../../../testkit/until.ts";
import { dockerScope } from "../../assets/images/fixture.ts";

const BUILD_MS = 20 * 60_000;
const BASE = "debian:bookworm-slim";
const USERS = parseUsersList(
  "mailboxes:\n  - {owner: ada, address: ada@ada.semail.test}\n  - {owner: bob, address: bob@bob.semail.test}\n",
  { managedDomain: "semail.test", defaultSize: 1 << 20, minSize: 1 },
);
/** Healthy while /tmp/healthy exists; PID 1 is sleep, which stops at once on `docker stop -t 0`. */
const HEALTHY_SLEEPER = [
  "--health-cmd",
  "test -e /tmp/healthy",
  "--health-retries",
  "1",
  BASE,
  "sh",
  "-c",
  "touch /tmp/healthy; exec sleep infinity",
];

/** The project's Debian base (assets/images/base.sh), under the image tests' build lock. */
async function baseImage(engine: DockerEngine): Promise<void> {
  await withLock(
    path.join(tmpdir(), "semail-image-build.lock"),
    () =>
      promisify(execFile)(repoPath("assets/images/base.sh"), [BASE], {
        env: { ...process.env, DOCKER_HOST: engine.host },
        timeout: BUILD_MS,
      }),
    BUILD_MS,
  );
}

describe("report: containers healthy", { skip: needsRoot, timeout: BUILD_MS }, () => {
  let engine: DockerEngine | undefined;
  before(async () => {
    engine = await dockerEngine();
    await baseImage(engine);
  });
  after(() => engine?.release());

  it("is OK when each container runs healthy, and FAILs one stopped, unhealthy or missing", async (t) => {
    const scope = dockerScope(t, engine!);
    const prefix = `semail-report-${process.pid}-${Date.now().toString(36)}`;
    const daemon = `${prefix}-inbound`;
    const user = (owner: string) => `${prefix}-user-${owner}`;
    const ada = await scope.run(["--name", user("ada"), ...HEALTHY_SLEEPER]);
    const bob = await scope.run(["--name", user("bob"), ...HEALTHY_SLEEPER]);
    const inbound = await scope.run(["--name", daemon, ...HEALTHY_SLEEPER]);
    for (const id of [ada, bob, inbound]) await scope.healthy(id);
    const settings = (users = USERS) => ({
      settings: parseSettings(
        { report: { dockerSocket: engine!.host, userContainer: `${prefix}-user-{owner}`, containers: [daemon] } },
        "test",
      ),
      users,
    });
    const check = async () => {
      const { settings: s, users } = settings();
      return (await containerFindings(s, users)).map((f) => `${f.status} ${f.subject}: ${f.detail}`);
    };
    assert.deepEqual(await check(), [
      `OK container ${daemon}: running, healthy`,
      `OK container ${user("ada")}: running, healthy`,
      `OK container ${user("bob")}: running, healthy`,
    ]);

    await engine!.docker(["stop", "-t", "0", inbound]);
    await engine!.docker(["exec", ada, "rm", "/tmp/healthy"]);
    await engine!.docker(["rm", "-f", bob]);
    await until(
      async () => (await engine!.docker(["inspect", "-f", "{{.State.Health.Status}}", ada])).trim() === "unhealthy",
      "ada's container to turn unhealthy",
      30_000,
    );
    const { settings: s, users } = settings();
    const found = await containerFindings(s, users);
    assert.deepEqual(
      found.map((f) => `${f.status} ${f.subject}: ${f.detail.replace(/^(is unhealthy).*/, "$1")}`),
      [
        `FAIL container ${daemon}: is exited`,
        `FAIL container ${user("ada")}: is unhealthy`,
        `FAIL container ${user("bob")}: does not exist`,
      ],
    );
    assert.match(
      found[0]!.fix!,
      new RegExp(`^\`docker start ${daemon}\`; why it stopped: \`docker logs --tail 50 ${daemon}\``),
    );
    assert.match(found[1]!.fix!, /docker restart/);
    assert.match(found[2]!.fix!, /apply the users list again/);
  });

  it("fails once when the engine does not answer, and is not applicable without one", async () => {
    const gone = parseSettings({ report: { dockerSocket: "/nonexistent/docker.sock" } }, "test");
    assert.deepEqual(
      (await containerFindings(gone, USERS)).map((f) => `${f.status} ${f.subject}: ${f.detail}`),
      ["FAIL Docker at /nonexistent/docker.sock: does not answer: ENOENT"],
    );
    assert.deepEqual(
      (await containerFindings(parseSettings({}, "test"), USERS)).map((f) => `${f.status} ${f.detail}`),
      ["OK not applicable: no Docker engine is set (report.dockerSocket)"],
    );
  });

  it("names the setting of a user container name without {owner}", () => {
    assert.throws(
      () => parseSettings({ report: { userContainer: "semail-user" } }, "test"),
      /report\.userContainer: must contain \{owner\}/,
    );
  });
});
