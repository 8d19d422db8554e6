// Submission on inbound's public listeners, from the settings: which listeners offer AUTH
// (587 and 465, never 25) and how an authenticated session's message reaches outbound.
// Every refusal names the setting to change.
import { readFile } from "node:fs/promises";
import { ConfigError, type Settings } from "../../config/settings.ts";
import { isLoopbackHost } from "../../lib/ip-networks.ts";
import type { ListenSpec } from "../../lib/listen-spec.ts";
import type { HandoffTarget } from "./submission-handoff.ts";

/** Ports whose listeners offer AUTH when inbound.submission.listen is not set. */
export const SUBMISSION_PORTS: readonly number[] = [587, 465];

/** The entries of inbound.listen that offer AUTH: inbound.submission.listen, or those on 587 and 465. */
export function submissionListeners(settings: Settings): ListenSpec[] {
  const { listen, submission } = settings.inbound;
  if (submission.listen === undefined) return listen.filter((l) => SUBMISSION_PORTS.includes(l.port));
  for (const l of submission.listen) {
    if (!listen.some((entry) => entry.spec === l.spec))
      throw new ConfigError(
        `inbound.submission.listen: ${JSON.stringify(l.spec)} is not one of inbound.listen (${listen.map((entry) => entry.spec).join(", ")}); list the listen addresses that offer AUTH`,
      );
    // Other mail servers deliver on 25 without AUTH; a login there is never asked for.
    if (l.port === 25)
      throw new ConfigError(
        `inbound.submission.listen: ${JSON.stringify(l.spec)} is port 25, where mail servers deliver; AUTH is offered on submission ports only (587, 465)`,
      );
  }
  return [...submission.listen];
}

/** "HOST:PORT" or "[v6]:PORT" (validated by the settings schema) as host and port. */
export function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(at + 1)) };
}

/**
 * Where authenticated mail goes: plain on loopback (outbound takes AUTH without TLS there and
 * the login never leaves the machine); anywhere else STARTTLS with the certificate checked
 * against inbound.submission.outboundCaFile, or tls.cert, which both daemons share.
 */
export async function handoffTarget(settings: Settings): Promise<HandoffTarget> {
  const s = settings.inbound.submission;
  const { host, port } = hostPort(s.outbound);
  if (isLoopbackHost(host)) return { host, port };
  const setting = s.outboundCaFile !== undefined ? "inbound.submission.outboundCaFile" : "tls.cert";
  const caFile = s.outboundCaFile ?? settings.tls.cert;
  if (caFile === undefined) {
    throw new ConfigError(
      `inbound.submission.outbound: ${s.outbound} is not on loopback, so the users' logins would cross a network: set inbound.submission.outboundCaFile to the certificate outbound shows (or its CA), or tls.cert when both daemons share it`,
    );
  }
  let ca: Buffer;
  try {
    ca = await readFile(caFile);
  } catch (err) {
    throw new ConfigError(
      `${setting}: cannot read ${caFile} (the certificate outbound's STARTTLS is checked against): ${(err as Error).message}`,
    );
  }
  return { host, port, tls: { ca, servername: s.outboundTlsName ?? settings.hostname } };
}
