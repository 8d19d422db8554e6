// "ADDR:PORT" listen specs: "127.0.0.1:2525", "[::1]:25", "[::]:465/tls" (implicit TLS).
// The settings schema parses them once (config/sections/common.ts); every part then reads
// the typed value.

export interface ListenSpec {
  /** As written in the settings. */
  readonly spec: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly implicitTls: boolean;
}

const SHAPE = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+|localhost|\*)):(\d{1,5})(\/tls)?$/;

/** What is wrong with `spec` (to follow the setting's name), or undefined when it is a listen spec. */
export function listenSpecProblem(spec: string): string | undefined {
  const match = SHAPE.exec(spec);
  if (match && Number(match[3]) <= 65535) return undefined;
  return "must be ADDR:PORT such as 127.0.0.1:2525 or [::1]:25 (append /tls for implicit TLS)";
}

/** Parses one spec; throws an Error that names it. "*" means every address (IPv6 and IPv4). */
export function parseListenSpec(spec: string): ListenSpec {
  const problem = listenSpecProblem(spec);
  if (problem !== undefined) throw new Error(`listen address ${JSON.stringify(spec)} ${problem}`);
  const match = SHAPE.exec(spec)!;
  const host = match[1] ?? (match[2] === "*" ? "::" : match[2]!);
  return { spec, host, port: Number(match[3]), implicitTls: match[4] !== undefined };
}
