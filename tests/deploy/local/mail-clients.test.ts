// Local mode's mail host for mail programs: loopback, on the ports its own settings give
// Dovecot and inbound's AUTH listeners; a part that does not run is not offered.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSettings } from "../../../config/settings.ts";
import { localMailClients } from "../../../deploy/local/mail-clients.ts";

const IMAP = { listen: ["127.0.0.1"], imapPort: 1143, imapsPort: 1993, pop3sPort: 1995 };

test("Dovecot's ports when it runs; none as a plain user", () => {
  const settings = parseSettings({ imap: IMAP, inbound: { listen: ["127.0.0.1:2525"] } }, "test");
  assert.deepEqual(localMailClients(settings, true), {
    host: "127.0.0.1",
    ports: { imap: 1143, imaps: 1993, pop3s: 1995, submission: 0, submissions: 0 },
  });
  assert.deepEqual(localMailClients(settings, false).ports, {
    imap: 0,
    imaps: 0,
    pop3s: 0,
    submission: 0,
    submissions: 0,
  });
});

test("inbound's AUTH listeners, STARTTLS and implicit TLS, only with a certificate (as the daemon offers AUTH)", () => {
  const inbound = {
    listen: ["127.0.0.1:2525", "[::1]:2588", "127.0.0.1:2588", "127.0.0.1:2465/tls"],
    submission: { listen: ["[::1]:2588", "127.0.0.1:2588", "127.0.0.1:2465/tls"] },
  };
  const tls = { cert: "/tls/cert.pem", key: "/tls/key.pem" };
  assert.deepEqual(localMailClients(parseSettings({ imap: IMAP, inbound, tls }, "test"), true).ports, {
    imap: 1143,
    imaps: 1993,
    pop3s: 1995,
    submission: 2588,
    submissions: 2465,
  });
  assert.deepEqual(
    localMailClients(parseSettings({ imap: IMAP, inbound }, "test"), true).ports,
    { imap: 1143, imaps: 1993, pop3s: 1995, submission: 0, submissions: 0 },
    "no certificate, no AUTH",
  );
});
