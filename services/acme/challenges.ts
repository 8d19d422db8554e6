// How the CA's checks are answered. DNS-01: the challenge TXT records go into SEMail's own
// zone (it is authoritative, so a wildcard is possible), as lines tagged CHALLENGE_TAG that a
// later publish replaces; HTTP-01: a file per token under `.well-known/acme-challenge/` in the
// state directory, which the webmail's nginx serves on port 80 (or serveHttpChallenges here).
import { execFile } from "node:child_process";
import { readFile, mkdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/durable-file.ts";

/** One TXT record the CA looks up: `_acme-challenge.<name>` (fully qualified, no trailing dot). */
export interface ChallengeRecord {
  readonly name: string;
  readonly value: string;
}

/** Serves exactly `records` as challenge TXTs (an empty list removes them all), then resolves once named serves them. */
export type PublishChallengeRecords = (records: readonly ChallengeRecord[]) => Promise<void>;

/** Marks the zone lines that are ours, so the next publish can take them out again. */
export const CHALLENGE_TAG = "; semail-acme challenge";

/** `zoneText` without our old challenge lines and with `records` (those in `domain` only). */
export function withChallengeRecords(zoneText: string, domain: string, records: readonly ChallengeRecord[]): string {
  const kept = zoneText.split("\n").filter((line) => !line.endsWith(CHALLENGE_TAG));
  while (kept.length > 0 && kept.at(-1) === "") kept.pop();
  for (const record of records) {
    if (record.name !== domain && !record.name.endsWith(`.${domain}`))
      throw new Error(`${record.name} is not in the zone ${domain}: its challenge cannot be published there`);
    if (!/^[A-Za-z0-9_-]+$/.test(record.value)) throw new Error(`not a challenge digest: ${record.value}`);
    kept.push(`${record.name}. 60 IN TXT "${record.value}" ${CHALLENGE_TAG}`);
  }
  return `${kept.join("\n")}\n`;
}

/**
 * The VM's way: read the installed zone file, add the records, and pipe it to the zone installer
 * (assets/host/install-zone.sh: named-checkzone, a new serial, `rndc reload`). The Pulumi
 * program's next install of the zone has no challenge lines, as it should.
 */
export function installedZonePublisher(options: {
  readonly domain: string;
  readonly zoneFile: string;
  /** The installer's argv; run as `argv[0] DOMAIN argv[1..]`, the zone on stdin. */
  readonly install: readonly string[];
}): PublishChallengeRecords {
  return async (records) => {
    const text = withChallengeRecords(await readFile(options.zoneFile, "utf8"), options.domain, records);
    const [program, ...rest] = options.install;
    await new Promise<void>((resolve, reject) => {
      const child = execFile(program!, [options.domain, ...rest], { timeout: 60_000 }, (err, _out, stderr) =>
        err ? reject(new Error(`${program} ${options.domain}: ${stderr.trim() || err.message}`)) : resolve(),
      );
      // An installer that exits without reading says why by its status; EPIPE here adds nothing.
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(text);
    });
  };
}

/** HTTP-01 answers as files: `<dir>/.well-known/acme-challenge/<token>`. */
export interface HttpChallengeFiles {
  put(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export function challengeDir(stateDir: string): string {
  return join(stateDir, ".well-known", "acme-challenge");
}

export function httpChallengeFiles(stateDir: string): HttpChallengeFiles {
  const dir = challengeDir(stateDir);
  const file = (token: string) => {
    if (!TOKEN.test(token)) throw new Error(`not an ACME token: ${JSON.stringify(token)}`);
    return join(dir, token);
  };
  return {
    async put(token, keyAuthorization) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await writeFileAtomic(file(token), keyAuthorization, 0o644);
    },
    async remove(token) {
      await rm(file(token), { force: true });
    },
  };
}

/**
 * A tiny responder for `/.well-known/acme-challenge/<token>` from the state directory, for where
 * no nginx serves it (local mode, tests). Answers nothing else.
 */
export async function serveHttpChallenges(
  stateDir: string,
  host: string,
  port: number,
): Promise<{ readonly port: number; close(): Promise<void> }> {
  const prefix = "/.well-known/acme-challenge/";
  const server = createServer((req, res) => {
    const token = req.url?.startsWith(prefix) ? req.url.slice(prefix.length) : "";
    if (req.method !== "GET" || !TOKEN.test(token)) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(challengeDir(stateDir), token), "utf8").then(
      (text) => res.writeHead(200, { "content-type": "text/plain" }).end(text),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
