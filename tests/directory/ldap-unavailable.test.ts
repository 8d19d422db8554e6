// A directory that is down or hung is an outage (DirectoryUnavailableError, so 454 / 503), never a
// "wrong password", and it is reported within about the configured timeout.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { ldapSettings, type LdapSettings } from "../../config/sections/ldap.ts";
import { createDirectory } from "../../directory/ldap.ts";
import { DirectoryUnavailableError } from "../../config/directory.ts";
import { freeLoopbackPort } from "../../deploy/local/ports.ts";

/** A loopback server that accepts connections and never says a word; counts what it got. */
async function silentServer(t: TestContext): Promise<{ url: string; connections: () => number; bytes: () => number }> {
  let connections = 0;
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("data", (d) => (bytes += d.length));
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((ok) => server.close(ok));
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { url: `ldap://127.0.0.1:${address.port}`, connections: () => connections, bytes: () => bytes };
}

function settings(url: string, overrides: Partial<LdapSettings> = {}): LdapSettings {
  return ldapSettings.parse({ url, ...overrides });
}

async function elapsed<T>(work: () => Promise<T>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

describe("LDAP directory unavailable", () => {
  it("reports a port with nothing listening as unavailable, for logins and admin checks", async () => {
    const url = `ldap://127.0.0.1:${await freeLoopbackPort()}`;
    const directory = createDirectory(settings(url));
    await assert.rejects(directory.authenticate("alice", "pw"), (err: unknown) => {
      assert.ok(err instanceof DirectoryUnavailableError);
      assert.match(err.message, /ECONNREFUSED/);
      assert.doesNotMatch(err.message, /pw/);
      return true;
    });
    await assert.rejects(directory.isAdmin("alice"), DirectoryUnavailableError);
    await assert.rejects(
      createDirectory(settings(url, { userFilter: "(uid={uid})" })).authenticate("alice", "pw"),
      DirectoryUnavailableError,
    );
  });

  for (const mode of [{}, { userFilter: "(uid={uid})" }, { startTls: true }]) {
    it(`gives up on a hung directory after about timeoutMs (${JSON.stringify(mode)})`, async (t) => {
      const hung = await silentServer(t);
      const directory = createDirectory(settings(hung.url, { timeoutMs: 500, ...mode }));
      const ms = await elapsed(() => assert.rejects(directory.authenticate("alice", "pw"), DirectoryUnavailableError));
      assert.ok(ms >= 450 && ms < 2000, `took ${ms} ms`);
      assert.equal(hung.connections(), 1);
      const adminMs = await elapsed(() => assert.rejects(directory.isAdmin("alice"), DirectoryUnavailableError));
      assert.ok(adminMs >= 450 && adminMs < 2000, `isAdmin took ${adminMs} ms`);
    });
  }

  it("with the default timeout, a hung directory fails in under 10 s", async (t) => {
    const hung = await silentServer(t);
    const ms = await elapsed(() =>
      assert.rejects(createDirectory(settings(hung.url)).authenticate("alice", "pw"), DirectoryUnavailableError),
    );
    assert.ok(ms >= 4500 && ms < 10_000, `took ${ms} ms`);
  });

  it("refuses an empty password and an invalid login name without contacting the directory", async (t) => {
    const hung = await silentServer(t);
    const directory = createDirectory(settings(hung.url, { timeoutMs: 5000 }));
    for (const [login, password] of [
      ["alice", ""],
      ["*)(uid=*", "pw"],
      ["admin)(|(uid=*", "pw"],
      ["*", "pw"],
      ["", "pw"],
    ] as const) {
      // Asking the hung directory would end in DirectoryUnavailableError after 5 s, not this answer.
      assert.deepEqual(await directory.authenticate(login, password), { ok: false }, JSON.stringify(login));
    }
    assert.equal(await directory.isAdmin("*"), false);
    assert.equal(hung.connections(), 0);
    assert.equal(hung.bytes(), 0);
  });
});
