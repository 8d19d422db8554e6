// The outbound daemon as the Docker image runs it (the bundle, the ENTRYPOINT's node
// flags): AUTH against a real slapd, MX lookup at a real named, delivery to the target.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { bundle, imageNodeFlags } from "../../../bin/bundle.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import { startTestSlapd, TEST_USERS, type TestSlapd } from "../../helpers/slapd.ts";
import { until } from "../../helpers/until.ts";
import { APEX, startWorld, type World } from "./relay/fixture.ts";
import { startChild, writeChildConfig } from "./child-daemon.ts";
import { plain, tempDir } from "./daemon-fixture.ts";

let world: World;
let slapd: TestSlapd;
let build = "";
before(async () => {
  world = await startWorld();
  slapd = await startTestSlapd();
  build = await mkdtemp(join(tmpdir(), "semail-bundle-"));
});
after(async () => {
  await world?.close();
  await slapd?.stop();
  if (build) await rm(build, { recursive: true, force: true });
});

it("the bundled daemon authenticates, queues and delivers by MX", async (t) => {
  const entry = await bundle(join(build, "dist"));
  const dir = await tempDir(t);
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
  await until(() => world.targets.a.messages.some((m) => m.raw.includes("Subject: from the bundle")), () => `delivery; daemon output:\n${daemon.output()}`, 15_000);
});
