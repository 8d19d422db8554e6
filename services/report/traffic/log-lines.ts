// Where the daemons' log lines are read from, one source at a time, a line at a time (a busy
// day's log is not held in memory): on the VM the containers' logs (`docker:semail-inbound`,
// read with `docker logs --since`, which the json-file driver keeps), in local mode the file
// `semail start` logs to (<data dir>/semail.log), and "-" for standard input.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** The lines of every source in turn; a source that cannot be read rejects, naming it. */
export async function* logLines(sources: readonly string[], since: Date): AsyncGenerator<string> {
  for (const source of sources) {
    if (source.startsWith("docker:")) yield* dockerLogs(source.slice("docker:".length), since);
    else if (source === "-") yield* linesOf(process.stdin);
    else yield* fileLines(source);
  }
}

async function* fileLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path);
  // An unreadable file fails here with its own message (ENOENT: ... 'path'), before any line.
  await new Promise<void>((resolve, reject) => stream.once("open", () => resolve()).once("error", reject));
  yield* linesOf(stream);
}

async function* dockerLogs(container: string, since: Date): AsyncGenerator<string> {
  const child = spawn("docker", ["logs", "--since", since.toISOString(), container], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  // The daemons log to standard output; what docker says of itself comes on standard error.
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code ?? 1));
  });
  try {
    yield* linesOf(child.stdout);
  } finally {
    if (child.exitCode === null) child.kill();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`docker logs ${container} failed (exit ${code}): ${stderr.trim()}`);
}

function linesOf(stream: Readable): AsyncIterable<string> {
  return createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
}
