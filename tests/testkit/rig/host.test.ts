// The rig host: a container that must behave like the small Debian VM the "existing host"
// target deploys onto. Each step is something the program does there (its apt-get line,
// named and rndc, systemctl, loop-mounted ext4 by mailbox-fs.sh, the users' firewall, images
// on the host's own dockerd, a port published on the host's address); the last checks that
// stopping it leaves nothing on this machine.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { VM_PACKAGES } from "../../../config/stack/host-script-paths.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { until } from "../../../testkit/until.ts";
import { buildRigImage } from "../../../testkit/rig/host/image.ts";
import { unroutedRigSubnets } from "../../../testkit/rig/host/subnet.ts";
import { startRigHost } from "../../../testkit/rig/host/index.ts";
import { cgroupLayout } from "../../../testkit/rig/host/run-flags.ts";
import { sshExec } from "../../../testkit/rig/host/ssh.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const skip = needsRoot;

/** The first line a TCP server at address:port sends, or the connection's error. */
function firstLine(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, timeout: 5_000 });
    let text = "";
    socket.setEncoding("utf8").on("data", (d: string) => (text += d));
    socket.once("end", () => resolve(text.split("\n")[0] ?? ""));
    socket.once("timeout", () => socket.destroy(new Error("timed out")));
    socket.once("error", reject);
  });
}

const hostLoops = async () => (await run("losetup", ["-l", "-n", "-O", "NAME,BACK-FILE"], { timeout: 10_000 })).stdout;

test("the cgroup layout: the machine's hierarchies bound in, the ones systemd would make shadowed", () => {
  const mountinfo = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,size=4096k",
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
    "33 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "34 31 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
    "35 31 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");
  const cgroups =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t2\t1\ncpuacct\t0\t1\t1\nmemory\t2\t5\t1\nnet_cls\t0\t1\t1\nnet_prio\t0\t1\t1\nhugetlb\t0\t1\t1\nrdma\t0\t1\t0\n";
  assert.deepEqual(cgroupLayout(mountinfo, cgroups), {
    hierarchies: ["cpu", "memory", "systemd", "unified"],
    shadowed: ["net_cls,net_prio", "hugetlb"],
  });
  assert.throws(
    () => cgroupLayout(mountinfo.replace(/\n.*name=systemd/, ""), cgroups),
    /no name=systemd cgroup hierarchy/,
  );
  assert.throws(() => cgroupLayout("31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw", cgroups), /cgroup v2 only/);
});

test("a rig host behaves like the small Debian VM the program deploys onto, and leaves nothing behind", {
  skip,
  timeout: 25 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  t.after(() => engine.release());
  const cgroupsBefore = (await readdir("/sys/fs/cgroup")).sort();
  let started = performance.now();
  await buildRigImage(engine);
  t.diagnostic(`rig image built (or found in the cache) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  started = performance.now();
  // A subnet no other dockerd of the run picks by default (testkit/rig/host/subnet.ts).
  const [subnet] = await unroutedRigSubnets();
  const rig = await startRigHost(t, { engine, ...(subnet ? { subnet } : {}) });
  t.diagnostic(
    `rig started (container run, systemd booted, root let in over SSH) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  await t.test(
    "root logs in over SSH with the test's key and the rig's host key checked; an unknown host key is refused",
    async () => {
      assert.equal((await rig.exec("id -u; hostname")).trim(), "0\nsemail-rig");
      assert.match(rig.hostKey, /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
      const noKnownHosts = rig.sshOptions.map((o) =>
        o.startsWith("UserKnownHostsFile=") ? "UserKnownHostsFile=/dev/null" : o,
      );
      await assert.rejects(sshExec(noKnownHosts, rig.address, "true"), /Host key verification failed/);
    },
  );

  await t.test(
    "the program's apt-get line installs its packages from the rig's archive; named answers rndc",
    { timeout: 5 * 60_000 },
    async () => {
      assert.match(
        await rig.exec("dpkg-query -W -f='${Status}' bind9 2>&1 || true"),
        /no packages found|not-installed/,
        "bind9 is not preinstalled: the install below is real",
      );
      // As components/host-scripts.ts runs it.
      await rig.exec(
        `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${VM_PACKAGES.join(" ")}`,
        { timeoutMs: 4 * 60_000 },
      );
      assert.match(await rig.exec("rndc status"), /server is up and running/);
    },
  );

  await t.test("systemctl runs the services as units and reloads sshd as jump-host.sh does", async () => {
    assert.deepEqual((await rig.exec("systemctl is-active ssh named docker")).trim().split("\n"), [
      "active",
      "active",
      "active",
    ]);
    await rig.exec("systemctl reload ssh");
    // A reload is SIGHUP: sshd re-executes itself and, for that moment (a second or more
    // under load, seen here), refuses connections. A real VM does the same.
    await until(
      () =>
        rig.exec("true").then(
          () => true,
          () => false,
        ),
      "sshd to answer again after its reload",
      30_000,
    );
    assert.equal((await rig.exec("systemctl is-system-running")).trim(), "running");
  });

  await t.test(
    "users-firewall.sh installs its rules (a writable net.bridge sysctl, iptables) and its unit",
    async () => {
      await rig.exec("install -d -m 0755 /usr/local/lib/semail && cat > /usr/local/lib/semail/users-firewall.sh", {
        input: await readFile(repoPath("assets/host/users-firewall.sh")),
      });
      await rig.exec(
        "bash /usr/local/lib/semail/users-firewall.sh install --bridge semail-users --allow 10.1.2.3:587 --unit",
      );
      assert.match(
        await rig.exec("iptables -w 10 -t mangle -S SEMAIL-USERS-FWD"),
        /-d 10\.1\.2\.3\/32 .*--dport 587 .*-j RETURN/,
      );
      assert.equal((await rig.exec("systemctl is-enabled semail-users-firewall")).trim(), "enabled");
    },
  );

  const base = "debian:bookworm-slim";
  await t.test(
    "an image loaded from the tests' engine runs on the rig's own dockerd (overlay2, inside its cgroup)",
    async () => {
      // The data root is kept between runs: untag what an earlier run loaded, so this load counts.
      await rig.docker(["image", "rm", "-f", base]).catch(() => "");
      await assert.rejects(rig.docker(["image", "inspect", base]));
      await rig.loadImage(base);
      assert.match(await rig.docker(["run", "--rm", base, "cat", "/etc/debian_version"]), /^12\.\d+/);
      const info = await rig.docker(["info", "-f", "{{.Driver}} {{.CgroupDriver}}"]);
      assert.equal(info.trim(), "overlay2 systemd");
    },
  );

  await t.test(
    "the docker CLI builds on the rig's dockerd over ssh://root@address, as the program's provider does",
    async () => {
      // The CLI runs the system `ssh`: a wrapper first on PATH gives it the rig's key and host key.
      const bin = await tempDir(t, "semail-rig-ssh-");
      await writeFile(
        join(bin, "ssh"),
        `#!/bin/sh\nexec /usr/bin/ssh ${rig.sshOptions.map((o) => `'${o}'`).join(" ")} "$@"\n`,
        { mode: 0o755 },
      );
      const context = join(bin, "context");
      await mkdir(context);
      await writeFile(join(context, "Dockerfile"), `FROM ${base}\nRUN echo built on the rig > /built\n`);
      const env = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        DOCKER_HOST: `ssh://root@${rig.address}`,
      };
      await run("docker", ["build", "-q", "-t", "semail-test/rig-built", context], { env, timeout: 120_000 });
      assert.equal(
        (await run("docker", ["run", "--rm", "semail-test/rig-built", "cat", "/built"], { env, timeout: 60_000 }))
          .stdout,
        "built on the rig\n",
      );
    },
  );

  await t.test("a port an inner container publishes on the rig's address answers from this machine", async () => {
    const server = `$s = IO::Socket::INET->new(LocalPort => 80, Listen => 5, ReuseAddr => 1) or die "listen: $!"; while ($c = $s->accept) { print $c "hello from inside the rig\\n"; close $c }`;
    await rig.docker([
      "run",
      "-d",
      "--name",
      "published",
      "-p",
      `${rig.address}:8080:80`,
      base,
      "perl",
      "-MIO::Socket::INET",
      "-e",
      server,
    ]);
    let line = "";
    await until(
      async () => (line = await firstLine(rig.address, 8080).catch(() => "")) !== "",
      () => `${rig.address}:8080 to answer`,
      30_000,
    );
    assert.equal(line, "hello from inside the rig");
  });

  // Unique, so the machine-wide loop list can be searched for this rig's image only.
  const images = `/var/lib/semail/images-${randomBytes(4).toString("hex")}`;
  await t.test("mailbox-fs.sh makes an ext4 image file, loop-mounts it, unmounts it, mounts it again", async () => {
    await rig.exec("cat > /usr/local/lib/semail/mailbox-fs.sh", {
      input: await readFile(repoPath("assets/host/mailbox-fs.sh")),
    });
    const mailbox = (action: string) =>
      rig.exec(
        `bash /usr/local/lib/semail/mailbox-fs.sh ${action} --owner rigtest --size ${32 << 20} --mail-root /var/mail/semail --image-dir ${images} --uid 1000 --gid 1000`,
      );
    await mailbox("create");
    assert.match(await rig.exec("findmnt -n -o SOURCE,FSTYPE /var/mail/semail/rigtest"), /^\/dev\/loop\d+ ext4$/m);
    // Shared, as under systemd on a VM: a container binding it with rslave propagation can start.
    assert.match(await rig.exec("findmnt -n -o PROPAGATION /var/mail/semail/rigtest"), /^shared/);
    assert.equal((await rig.exec("stat -c %U:%u /var/mail/semail/rigtest/INBOX")).trim(), "UNKNOWN:1000");
    await mailbox("unmount");
    assert.equal(await rig.exec("findmnt -n /var/mail/semail/rigtest || true"), "");
    // Left mounted: stopping the rig must undo it.
    await mailbox("create");
    assert.match(
      await hostLoops(),
      new RegExp(`${images}/rigtest\\.img`),
      "this machine sees the rig's loop device (so the check below can fail)",
    );
  });

  await t.test("stopping the rig leaves no container, network, loop device, mount or cgroup behind", async () => {
    await rig.stop();
    assert.equal((await engine.docker(["ps", "-aq", "--filter", `id=${rig.container}`])).trim(), "");
    assert.equal((await engine.docker(["network", "ls", "-q", "--filter", `name=^${rig.network}$`])).trim(), "");
    assert.doesNotMatch(await hostLoops(), new RegExp(images));
    const mounts = await readFile("/proc/self/mountinfo", "utf8");
    assert.ok(!mounts.includes(rig.container) && !mounts.includes(rig.dockerDataDir), "no mount of the rig's is left");
    const cgroups = (
      await run("find", ["/sys/fs/cgroup", "-maxdepth", "3", "-name", `*${rig.container}*`], { timeout: 10_000 })
    ).stdout;
    assert.equal(cgroups, "", "no cgroup of the rig's is left");
    assert.deepEqual(
      (await readdir("/sys/fs/cgroup")).sort(),
      cgroupsBefore,
      "the machine's /sys/fs/cgroup is as it was",
    );
  });
});
