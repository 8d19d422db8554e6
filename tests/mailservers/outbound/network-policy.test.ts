// Where the daemon may listen and who may AUTH without TLS: the pure policy, then the
// daemon refusing to start on a wildcard or public address (in process and as `semail`).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { silentLogger } from "../../../lib/logger.ts";
import { listenProblem, networkSet, plaintextAuthAllowed } from "../../../mailservers/outbound/network-policy.ts";
import { isLoopback, isLoopbackHost } from "../../../lib/ip-networks.ts";
import { startOutbound } from "../../../mailservers/outbound/daemon.ts";
import { daemonSettings, startDaemon } from "./daemon-fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const none = networkSet([], "x");
const containers = networkSet(["10.88.0.0/16", "fd00:88::/64"], "outbound.containerNetworks");

describe("listen policy", () => {
  it("allows loopback in every spelling", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost"]) {
      assert.equal(isLoopbackHost(host), true, host);
      assert.equal(isLoopback(host), host !== "localhost", `${host}: only IP literals are loopback addresses`);
      assert.equal(listenProblem(host, none, false), undefined, host);
    }
  });

  it("refuses wildcards and says why", () => {
    for (const host of ["::", "0.0.0.0", "*"]) {
      assert.match(
        listenProblem(host, containers, false) ?? "",
        /wildcard address: it listens on every interface.*forcePublicListen/,
        host,
      );
    }
  });

  it("refuses a public or unlisted private address, allows a container-network one", () => {
    assert.match(
      listenProblem("192.0.2.10", containers, false) ?? "",
      /neither loopback nor in outbound\.containerNetworks.*Internet/,
    );
    assert.match(listenProblem("10.89.0.1", containers, false) ?? "", /neither loopback/);
    assert.equal(listenProblem("10.88.0.1", containers, false), undefined);
    assert.equal(listenProblem("fd00:88::1", containers, false), undefined);
    assert.equal(listenProblem("192.0.2.10", containers, true), undefined, "forced");
  });

  it("names a bad network entry by its setting", () => {
    assert.throws(
      () => networkSet(["10.0.0.0/33"], "outbound.trustedNetworks"),
      /outbound\.trustedNetworks\[0\]: "10\.0\.0\.0\/33" is not an address/,
    );
  });
});

describe("AUTH without TLS", () => {
  it("only from loopback or a trusted network", () => {
    assert.equal(plaintextAuthAllowed("127.0.0.1", none), true);
    assert.equal(plaintextAuthAllowed("::1", none), true);
    assert.equal(plaintextAuthAllowed("10.88.0.5", none), false);
    assert.equal(plaintextAuthAllowed("10.88.0.5", containers), true);
    assert.equal(plaintextAuthAllowed("::ffff:10.88.0.5", containers), true);
    assert.equal(plaintextAuthAllowed("192.0.2.7", containers), false);
  });
});

describe("the daemon refuses to listen on a wildcard or public address", () => {
  it("in process: a ConfigError naming the setting, before anything listens", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    for (const [listen, why] of [
      ["[::]:0", /wildcard/],
      ["0.0.0.0:0", /wildcard/],
      ["*:0", /wildcard/],
      ["192.0.2.1:0", /neither loopback/],
    ] as const) {
      const settings = await daemonSettings(dir, { outbound: { listen: ["127.0.0.1:0", listen] } });
      await assert.rejects(startOutbound(settings, { logger: silentLogger() }), (err: Error) => {
        assert.equal(err.name, "ConfigError");
        assert.match(err.message, new RegExp(`outbound\\.listen: refusing ${listen.replace(/[[\]*.]/g, "\\$&")}`));
        assert.match(err.message, why);
        return true;
      });
    }
  });

  it("as `semail outbound`: exit 2 and the reason on stderr", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const node = join(process.cwd(), "node_modules/.bin/node");
    const result = await promisify(execFile)(
      node,
      ["bin/semail.mjs", "outbound", "--listen", "[::]:2587", "--spool", join(dir, "spool")],
      { cwd: process.cwd(), timeout: 30_000 },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /refusing \[::\]:2587: :: is a wildcard address/);
  });

  it("forced: listens on the wildcard address", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const settings = await daemonSettings(dir, { outbound: { listen: ["[::]:0"], forcePublicListen: true } });
    const daemon = await startDaemon(t, settings, { deliver: async () => [] });
    assert.equal(daemon.addresses[0]!.boundAddress, "::");
  });
});
