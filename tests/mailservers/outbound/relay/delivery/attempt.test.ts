// One SMTP attempt against a raw server: with PIPELINING offered, the envelope and DATA go
// out as one group (RFC 2920), which nodemailer's SMTPConnection does by itself.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { Readable } from "node:stream";
import { test } from "node:test";
import { createSender } from "../../../../../mailservers/outbound/relay/delivery/send.ts";

/**
 * A server that offers PIPELINING and holds its replies to MAIL and RCPT until DATA has
 * arrived too: a client that waits for each reply before the next command never gets one.
 */
async function startPipeliningServer(): Promise<{ port: number; groups: string[][]; close(): Promise<void> }> {
  const groups: string[][] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const reply = (text: string) => socket.write(`${text}\r\n`);
    let buffer = "";
    let held: string[] = [];
    let inData = false;
    reply("220 pipe.test ESMTP");
    socket.setEncoding("latin1").on("data", (chunk: string) => {
      buffer += chunk;
      for (let guard = 0; guard < 1000; guard++) {
        if (inData) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          buffer = buffer.slice(end + 5);
          inData = false;
          reply("250 2.0.0 Ok: queued");
          continue;
        }
        const eol = buffer.indexOf("\r\n");
        if (eol < 0) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") reply("250-pipe.test\r\n250-PIPELINING\r\n250 8BITMIME");
        else if (verb === "MAIL" || verb === "RCPT") held.push(line);
        else if (verb === "DATA") {
          groups.push([...held.map((l) => l.slice(0, 4)), "DATA"]);
          for (const _ of held) reply("250 2.1.0 Ok");
          held = [];
          inData = true;
          reply("354 End data with <CR><LF>.<CR><LF>");
        } else if (verb === "QUIT") {
          reply("221 Bye");
          socket.end();
          return;
        } else reply("250 Ok");
      }
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
  return {
    port,
    groups,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test("with PIPELINING, MAIL, every RCPT and DATA go out before any reply", async (t) => {
  const server = await startPipeliningServer();
  const sender = createSender({
    resolver: { resolve: () => Promise.reject(new Error("the relay host needs no MX lookup")) },
    ehloName: "relay.pipe.test",
    relayHost: { host: "127.0.0.1", port: server.port },
    greetingTimeoutMs: 2000,
    // A client that waited for the MAIL reply would wait this long, then defer.
    commandTimeoutMs: 2000,
  });
  t.after(async () => {
    await sender.close();
    await server.close();
  });
  const results = await sender.deliver({
    domain: "pipe.test",
    mailFrom: "alice@sender.test",
    recipients: ["a@pipe.test", "b@pipe.test"],
    envelopeId: "pipe",
    message: () => Readable.from([Buffer.from("Subject: pipelined\r\n\r\nHello.\r\n")]),
  });
  assert.deepEqual(
    results.map((r) => r.status),
    ["delivered", "delivered"],
    results.map((r) => r.response).join("; "),
  );
  assert.deepEqual(server.groups, [["MAIL", "RCPT", "RCPT", "DATA"]]);
});
