// The apt-proxy image (assets/images/apt-proxy) on a real Docker engine: healthy, and
// a request for any host but Debian's archives is refused (403) without being fetched. The
// names asked for are .invalid (RFC 2606), so a broken configuration still reaches no one;
// nothing here fetches from Debian's mirrors.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { dockerEngine, type DockerEngine } from "../../../testkit/docker.ts";
import { buildImage, dockerScope } from "./fixture.ts";

/** The status of GET `url` through the proxy at host:3142. */
function viaProxy(host: string, url: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(
      { host, port: 3142, path: url, headers: { host: new URL(url).host }, timeout: 10_000 },
      (res) => {
        res.resume();
        ok(res.statusCode ?? 0);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from the proxy for ${url}`)));
    req.on("error", fail);
    req.end();
  });
}

describe("the apt-proxy image", { timeout: 20 * 60_000 }, () => {
  let engine: DockerEngine | undefined;
  let image = "";
  before(async () => {
    engine = await dockerEngine();
    image = await buildImage(engine, "apt-proxy");
  });
  after(() => engine?.release());

  it("turns healthy and refuses hosts other than Debian's archives", async (t) => {
    const scope = dockerScope(t, engine!);
    const network = await scope.network();
    const id = await scope.run(["--network", network, image]);
    await scope.healthy(id);
    const host = await scope.address(id, network);
    assert.equal(await viaProxy(host, "http://mirror.example.invalid/ubuntu/dists/noble/InRelease"), 403);
    assert.equal(await viaProxy(host, "http://packages.example.invalid/pool/x.deb"), 403);
  });
});
