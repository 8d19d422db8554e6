// A small DKIM verifier for the tests (RFC 6376, rsa-sha256, relaxed/relaxed only), so a
// signature is checked by code that shares nothing with the signer.
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";

export interface DkimCheck {
  ok: boolean;
  reason?: string;
  tags: Record<string, string>;
}

interface Field {
  name: string;
  /** The whole field as it appears, folding included, without the final CRLF. */
  raw: string;
}

function splitMessage(raw: Buffer): { fields: Field[]; body: string } {
  const text = raw.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  const head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? "" : text.slice(end + 4);
  const fields: Field[] = [];
  for (const line of head.split("\r\n")) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1]!.raw += `\r\n${line}`;
    else fields.push({ name: line.slice(0, line.indexOf(":")).trim().toLowerCase(), raw: line });
  }
  return { fields, body };
}

function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw.slice(0, colon).trim().toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n/g, "")
    .replace(/[ \t]+/g, " ")
    .trim();
  return `${name}:${value}`;
}

function relaxedBody(body: string): string {
  let lines = body.split("\r\n");
  if (lines.at(-1) === "") lines.pop();
  lines = lines.map((l) => l.replace(/[ \t]+/g, " ").replace(/ $/, ""));
  while (lines.length && lines.at(-1) === "") lines.pop();
  return lines.length ? `${lines.join("\r\n")}\r\n` : "";
}

export function publicKeyFromRecord(txt: string): KeyObject {
  const p = /(?:^|;)\s*p=([^;]*)/.exec(txt)?.[1]?.replace(/\s+/g, "");
  if (!p) throw new Error(`no p= in DKIM record ${txt}`);
  return createPublicKey({ key: Buffer.from(p, "base64"), format: "der", type: "spki" });
}

export function verifyDkim(raw: Buffer, key: KeyObject): DkimCheck {
  const { fields, body } = splitMessage(raw);
  const signature = fields.find((f) => f.name === "dkim-signature");
  if (!signature) return { ok: false, reason: "no DKIM-Signature", tags: {} };
  const value = signature.raw.slice(signature.raw.indexOf(":") + 1).replace(/\r\n/g, "");
  const tags: Record<string, string> = {};
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0)
      tags[part.slice(0, eq).trim()] = part
        .slice(eq + 1)
        .replace(/[ \t]+/g, " ")
        .trim();
  }
  if (tags.a !== "rsa-sha256" || tags.c !== "relaxed/relaxed")
    return { ok: false, reason: `unsupported a=${tags.a} c=${tags.c}`, tags };
  const bodyHash = createHash("sha256").update(relaxedBody(body), "latin1").digest("base64");
  if (bodyHash !== (tags.bh ?? "").replace(/ /g, "")) return { ok: false, reason: "body hash mismatch", tags };
  // Each name in h= takes the next instance of that field from the bottom up (RFC 6376 5.4.2).
  const used = new Set<Field>();
  const lines: string[] = [];
  for (const name of (tags.h ?? "").split(":").map((n) => n.trim().toLowerCase())) {
    const field = fields.filter((f) => f.name === name && f !== signature && !used.has(f)).at(-1);
    if (!field) continue;
    used.add(field);
    lines.push(`${relaxedHeader(field.raw)}\r\n`);
  }
  const unsigned = signature.raw.replace(/(^|;)([ \t\r\n]*b[ \t\r\n]*=)[^;]*/, "$1$2");
  const data = lines.join("") + relaxedHeader(unsigned);
  const ok = verify(
    "sha256",
    Buffer.from(data, "latin1"),
    key,
    Buffer.from((tags.b ?? "").replace(/ /g, ""), "base64"),
  );
  return ok ? { ok, tags } : { ok, reason: "signature does not verify", tags };
}
