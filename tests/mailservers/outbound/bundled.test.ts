// The outbound daemon as the Docker image runs it (the bundle, the ENTRYPOINT's node
// flags): AUTH against a real slapd, MX lookup at a real named, delivery to the target.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { bundle, imageNodeFlags } from "../../../bin/bundle.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";
import { until } from "../../../testkit/until.ts";
import { APEX, startWorld, type World } from "./relay/delivery/fixture.ts";
import { startChild, writeChildConfig } from "./child-daemon.ts";
import { plain } from "./daemon-fixture.ts";
import { tempDir, tempDirForSuite } from "../../../testkit/temp-dir.ts";

let world: World;
const slapd = slapdForFile();
const build = tempDirForSuite("semail-bundle-");
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world?.close();
});

it("the bundled daemon authenticates, queues and delivers by MX", async (t) => {
  const entry = await bundle(join(build.path, "dist"));
  const dir = await tempDir(t, "semail-outbound-");
  const port = await freeLoopbackPort();
  const config = await writeChildConfig(dir, slapd, world, port);
  const daemon = await startChild(config, port, [...(await imageNodeFlags()), entry]);
  t.after(async () => {
    daemon.child.kill("SIGTERM");
    await daemon.exited;
  });

  const client = await SmtpClient.connect(port);
  await client.command("EHLO client.test");
  assert.equal((await client.command(`AUTH PLAIN ${plain("alice", "wrong")}`)).code, 535);
  assert.equal((await client.command(`AUTH PLAIN ${plain("alice", TEST_USERS[0]!.password)}`)).code, 235);
  assert.equal((await client.command(`MAIL FROM:<alice@plain.${APEX}>`)).code, 250);
  assert.equal((await client.command(`RCPT TO:<one@plain.${APEX}>`)).code, 250);
  const reply = await client.data("Subject: from the bundle\r\n\r\nbody\r\n");
  assert.equal(reply.code, 250, reply.text);
  await client.command("QUIT");
  client.close();
  await until(
    () => world.targets.a.messages.some((m) => m.raw.includes("Subject: from the bundle")),
    () => `delivery; daemon output:\n${daemon.output()}`,
    15_000,
  );
});
