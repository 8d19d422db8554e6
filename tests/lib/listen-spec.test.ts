// Listen specs: parsed once, by the settings schema, with the setting's name in the error.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSettings } from "../../config/settings.ts";
import { listenSpecProblem, parseListenSpec } from "../../lib/listen-spec.ts";

describe("listen specs", () => {
  it("parses IPv4, IPv6, wildcard and implicit TLS", () => {
    assert.deepEqual(parseListenSpec("127.0.0.1:2525"), {
      spec: "127.0.0.1:2525",
      host: "127.0.0.1",
      port: 2525,
      implicitTls: false,
    });
    assert.deepEqual(parseListenSpec("[::]:465/tls"), {
      spec: "[::]:465/tls",
      host: "::",
      port: 465,
      implicitTls: true,
    });
    assert.equal(parseListenSpec("*:25").host, "::");
    for (const bad of ["127.0.0.1", ":25", "[::1]:99999", "host.example:25", "127.0.0.1:25/ssl"]) {
      assert.throws(() => parseListenSpec(bad), /must be ADDR:PORT/, bad);
      assert.match(listenSpecProblem(bad) ?? "", /^must be ADDR:PORT/, bad);
    }
    assert.equal(listenSpecProblem("[::1]:65535"), undefined);
  });

  it("reach every part typed from the settings, and a bad one is named by its setting", () => {
    const settings = parseSettings(
      { inbound: { listen: ["*:25", "127.0.0.1:465/tls"] }, web: { listen: "[::1]:8080" } },
      "test",
    );
    assert.deepEqual(
      settings.inbound.listen.map((l) => [l.host, l.port, l.implicitTls]),
      [
        ["::", 25, false],
        ["127.0.0.1", 465, true],
      ],
    );
    assert.equal(settings.web.listen.port, 8080);
    assert.equal(settings.outbound.listen[0]!.spec, "127.0.0.1:587", "a default is parsed too");
    assert.throws(
      () => parseSettings({ outbound: { listen: ["127.0.0.1:70000"] } }, "test"),
      /outbound\.listen\[0\]: must be ADDR:PORT/,
    );
    assert.throws(
      () => parseSettings({ webmail: { listen: "127.0.0.1:8081/tls" } }, "test"),
      /webmail\.listen: must be ADDR:PORT .*plain HTTP/,
    );
  });
});
