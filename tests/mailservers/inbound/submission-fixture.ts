// For the submission tests: the users both daemons serve, and a real outbound daemon on
// loopback that logs in against the test's slapd and relays everything to an SMTP sink.
import type { TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { startOutbound, type RunningOutbound } from "../../../mailservers/outbound/daemon.ts";
import type { TestSlapd } from "../../helpers/slapd.ts";
import type { Target } from "../../helpers/target-smtp.ts";
import type { TestCertificate } from "../../../testkit/tls.ts";
import { daemonSettings } from "../outbound/daemon-fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

/** alice and bob live; admin's carol@carol.example waits for its domain's proof. */
export const SUBMISSION_USERS_YAML = `mailboxes:
  - {owner: alice, address: alice@semail.test}
  - {owner: bob, address: bob@bob.semail.test}
  - {owner: admin, address: carol@carol.example, pendingProof: 0123456789abcdef0123456789abcdef}
`;

/** An outbound daemon on 127.0.0.1:`port` (0: any) relaying to `sink`; with `tls` it offers STARTTLS. */
export async function relayingOutbound(
  t: TestContext,
  parts: { slapd: TestSlapd; sink: Target; port?: number; tls?: TestCertificate; maxMessageSize?: number },
): Promise<RunningOutbound> {
  const dir = await tempDir(t, "semail-outbound-");
  const settings = await daemonSettings(dir, {
    ldap: parts.slapd.settings(),
    users: SUBMISSION_USERS_YAML,
    ...(parts.tls ? { top: { tls: { cert: parts.tls.certFile, key: parts.tls.keyFile } } } : {}),
    outbound: {
      listen: [`127.0.0.1:${parts.port ?? 0}`],
      delivery: { relayHost: { host: parts.sink.host, port: parts.sink.port } },
      ...(parts.maxMessageSize !== undefined ? { maxMessageSize: parts.maxMessageSize } : {}),
    },
  });
  const running = await startOutbound(settings, { logger: silentLogger(), limits: { closeTimeoutMs: 200 } });
  t.after(() => running.stop());
  return running;
}
