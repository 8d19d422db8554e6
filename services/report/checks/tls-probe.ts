// Reaches a listener the way a mail client does and returns the certificate it shows: TLS at
// once (465, 993, 995, HTTPS), or after the protocol's STARTTLS (SMTP on 25 and 587, IMAP on
// 143). No certificate is verified here: the report compares it with the installed one.
import type { X509Certificate } from "node:crypto";
import net from "node:net";
import tls from "node:tls";

export type Handshake = "tls" | "smtp-starttls" | "imap-starttls";

/** What a listener answered: its leaf certificate; or nothing listens (silent); or it answers but no TLS comes of it (broken). */
export type ProbeResult =
  | { readonly kind: "certificate"; readonly cert: X509Certificate }
  | { readonly kind: "silent" | "broken"; readonly error: string };

export async function probeCertificate(
  host: string,
  port: number,
  handshake: Handshake,
  servername: string,
  timeoutMs = 5000,
): Promise<ProbeResult> {
  let socket: net.Socket;
  try {
    socket = await connect(host, port, timeoutMs);
  } catch (err) {
    return { kind: "silent", error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  const deadline = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  try {
    if (handshake !== "tls") await startTls(socket, handshake);
    const secured = tls.connect({
      socket,
      servername: net.isIP(servername) ? undefined : servername,
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve, reject) => {
      secured.once("secureConnect", resolve).once("error", reject);
      socket.once("close", () => reject(new Error("closed during the TLS handshake")));
    });
    const raw = secured.getPeerX509Certificate();
    secured.destroy();
    return raw ? { kind: "certificate", cert: raw } : { kind: "broken", error: "showed no certificate" };
  } catch (err) {
    return { kind: "broken", error: (err as Error).message };
  } finally {
    clearTimeout(deadline);
    socket.destroy();
  }
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once("timeout", () => socket.destroy(new Error(`no connection within ${timeoutMs / 1000} s`)));
    socket.once("error", reject);
  });
}

/** The protocol's plain-text part up to the server's go-ahead for TLS. */
async function startTls(socket: net.Socket, handshake: Exclude<Handshake, "tls">): Promise<void> {
  const lines = lineReader(socket);
  if (handshake === "smtp-starttls") {
    await reply(lines, "220", "greeting");
    socket.write("EHLO semail-report.invalid\r\n");
    const ehlo = await reply(lines, "250", "EHLO");
    if (!ehlo.some((l) => /^250[- ]STARTTLS\b/i.test(l))) throw new Error("offers no STARTTLS");
    socket.write("STARTTLS\r\n");
    await reply(lines, "220", "STARTTLS");
  } else {
    const greeting = await lines();
    if (!/^\* OK\b/i.test(greeting)) throw new Error(`greeting ${JSON.stringify(greeting)}`);
    socket.write("a STARTTLS\r\n");
    let line = await lines();
    while (line.startsWith("* ")) line = await lines();
    if (!/^a OK\b/i.test(line)) throw new Error(`STARTTLS answered ${JSON.stringify(line)}`);
  }
  lines.detach();
}

/** An SMTP reply's lines, all with `code` (else an error naming `step`). */
async function reply(lines: LineReader, code: string, step: string): Promise<string[]> {
  const all: string[] = [];
  for (;;) {
    const line = await lines();
    all.push(line);
    if (!line.startsWith(code)) throw new Error(`${step} answered ${JSON.stringify(line)}`);
    if (line[3] !== "-") return all;
  }
}

type LineReader = (() => Promise<string>) & { detach(): void };

/** Reads CRLF lines off `socket` until detached, so nothing of the TLS handshake is taken. */
function lineReader(socket: net.Socket): LineReader {
  let buffered = "";
  const waiting: Array<{ resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  const lines: string[] = [];
  let failure: Error | undefined;
  const flush = () => {
    while (waiting.length > 0 && lines.length > 0) waiting.shift()!.resolve(lines.shift()!);
    if (failure) for (const w of waiting.splice(0)) w.reject(failure);
  };
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString("latin1");
    let end: number;
    while ((end = buffered.indexOf("\n")) >= 0) {
      lines.push(buffered.slice(0, end).replace(/\r$/, ""));
      buffered = buffered.slice(end + 1);
    }
    flush();
  };
  const onEnd = (err?: Error) => {
    failure = err ?? new Error("closed the connection");
    flush();
  };
  const onClose = () => onEnd();
  socket.on("data", onData).on("error", onEnd).on("close", onClose);
  const read = (() =>
    new Promise<string>((resolve, reject) => {
      waiting.push({ resolve, reject });
      flush();
    })) as LineReader;
  read.detach = () => {
    socket.off("data", onData).off("error", onEnd).off("close", onClose);
    // The server speaks TLS only after our ClientHello, so nothing sits in `buffered` here.
  };
  return read;
}
