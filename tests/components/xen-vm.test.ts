// The XenVm create script, run against stand-ins for xl and xen-create-image.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { xenCreateScript, type XenVmArgs } from "../../components/xen-vm.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const ARGS: XenVmArgs = {
  dom0: { host: "dom0" },
  name: "semail",
  ip: "192.0.2.25",
  gateway: "192.0.2.1",
  netmask: "255.255.255.0",
  bridge: "xenbr0",
  vcpus: 2,
  memory: "2G",
  diskSize: "10G",
  distribution: "bookworm",
  dataDisk: "/dev/vg0/semail-mail",
};

test("creates the guest once, adds the data disk once, and boots it", async (t) => {
  const dir = await tempDir(t, "semail-xen-");
  const log = join(dir, "log");
  // Stand-ins: xen-create-image writes a config like xen-tools does; `xl list` fails until `xl create`.
  await writeFile(
    join(dir, "xen-create-image"),
    `#!/bin/sh\necho "xen-create-image $*" >> ${log}\nprintf "name = 'semail'\\ndisk = [\\n    'phy:/dev/vg0/semail-disk,xvda2,w',\\n]\\n" > ${dir}/semail.cfg\n`,
  );
  await writeFile(
    join(dir, "xl"),
    `#!/bin/sh\necho "xl $*" >> ${log}\ncase "$1" in list) test -f ${dir}/running ;; create) touch ${dir}/running ;; esac\n`,
  );
  await chmod(join(dir, "xen-create-image"), 0o755);
  await chmod(join(dir, "xl"), 0o755);
  const script = xenCreateScript(ARGS).replaceAll("/etc/xen/", `${dir}/`);
  const run = () =>
    new Promise<void>((done, fail) =>
      execFile("sh", ["-c", script], { env: { PATH: `${dir}:/usr/bin:/bin` } }, (err, _o, stderr) =>
        err ? fail(new Error(stderr)) : done(),
      ),
    );
  await run();
  await run();
  const cfg = await readFile(join(dir, "semail.cfg"), "utf8");
  assert.equal(cfg.match(/xvdb/g)?.length, 1);
  assert.match(cfg, /^disk = \[ 'phy:\/dev\/vg0\/semail-mail,xvdb,w',$/m);
  assert.deepEqual((await readFile(log, "utf8")).trim().split("\n"), [
    "xl list semail",
    "xen-create-image --hostname=semail --ip=192.0.2.25 --gateway=192.0.2.1 --netmask=255.255.255.0 --bridge=xenbr0 --vcpus=2 --memory=2G --size=10G --dist=bookworm --genpass=0",
    `xl create ${dir}/semail.cfg`,
    "xl list semail",
  ]);
});
