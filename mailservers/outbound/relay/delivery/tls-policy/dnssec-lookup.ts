// One DNS query over UDP that tells whether the answer was validated: Node's dns module hides
// the AD bit (RFC 4035 3.2.3), which DANE (RFC 7672) rests on. The query asks for it (AD and
// the EDNS DO bit, RFC 6840 5.7); only a validating resolver the operator trusts, on a path
// it trusts (loopback), can set it meaningfully.
import { createSocket } from "node:dgram";
import { randomInt } from "node:crypto";
import { isIP } from "node:net";

export interface RawRecord {
  type: number;
  data: Buffer;
}

export interface ValidatedAnswer {
  /** The resolver validated the answer (AD bit). */
  authentic: boolean;
  /** 0 NOERROR, 3 NXDOMAIN, ... */
  rcode: number;
  answers: RawRecord[];
}

export const TYPE = { MX: 15, TLSA: 52 } as const;

/** "IP", "IP:PORT" or "[IPv6]:PORT" as address and port. */
export function parseServer(server: string): { address: string; port: number } {
  const bracketed = server.match(/^\[([^\]]+)\]:(\d+)$/);
  if (bracketed) return { address: bracketed[1]!, port: Number(bracketed[2]) };
  if (isIP(server)) return { address: server, port: 53 };
  const at = server.lastIndexOf(":");
  return { address: server.slice(0, at), port: Number(server.slice(at + 1)) };
}

export function query(server: string, name: string, type: number, timeoutMs = 5000): Promise<ValidatedAnswer> {
  const { address, port } = parseServer(server);
  const id = randomInt(0, 0x10000);
  const message = encodeQuery(id, name, type);
  return new Promise<ValidatedAnswer>((resolve, reject) => {
    const socket = createSocket(isIP(address) === 6 ? "udp6" : "udp4");
    const timer = setTimeout(() => finish(new Error(`DNS query for ${name} timed out`)), timeoutMs);
    function finish(err: Error | undefined, answer?: ValidatedAnswer): void {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(answer!);
    }
    socket.on("error", (err) => finish(err));
    socket.on("message", (reply) => {
      // Anything but the answer to this query (a late or forged datagram) is ignored.
      if (reply.length < 12 || reply.readUInt16BE(0) !== id) return;
      try {
        finish(undefined, decodeAnswer(reply));
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.send(message, port, address, (err) => {
      if (err) finish(err);
    });
  });
}

function encodeQuery(id: number, name: string, type: number): Buffer {
  const labels = name
    .replace(/\.$/, "")
    .split(".")
    .map((label) => Buffer.from(label, "ascii"));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0120, 2); // RD, AD
  header.writeUInt16BE(1, 4); // one question
  header.writeUInt16BE(1, 10); // one additional: OPT
  const qname = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(type, 0);
  question.writeUInt16BE(1, 2); // IN
  // OPT: root name, type 41, UDP size 1232, DO bit.
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
  return Buffer.concat([header, qname, question, opt]);
}

function decodeAnswer(reply: Buffer): ValidatedAnswer {
  const flags = reply.readUInt16BE(2);
  if (flags & 0x0200) throw new Error("DNS answer truncated");
  const questions = reply.readUInt16BE(4);
  const count = reply.readUInt16BE(6);
  let at = 12;
  for (let i = 0; i < questions; i++) at = skipName(reply, at) + 4;
  const answers: RawRecord[] = [];
  for (let i = 0; i < count; i++) {
    at = skipName(reply, at);
    const type = reply.readUInt16BE(at);
    const length = reply.readUInt16BE(at + 8);
    const start = at + 10;
    if (start + length > reply.length) throw new Error("DNS answer cut short");
    answers.push({ type, data: reply.subarray(start, start + length) });
    at = start + length;
  }
  return { authentic: (flags & 0x0020) !== 0, rcode: flags & 0x000f, answers };
}

function skipName(buffer: Buffer, start: number): number {
  let at = start;
  for (;;) {
    if (at >= buffer.length) throw new Error("DNS name runs past the answer");
    const length = buffer[at]!;
    if (length === 0) return at + 1;
    if ((length & 0xc0) === 0xc0) return at + 2;
    at += length + 1;
  }
}
