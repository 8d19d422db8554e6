// Fixtures for the mbox store tests: a temp mail root, envelopes, messages as streams,
// and Python's mailbox module as the independent reader.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import type { TestContext } from "node:test";
import { silentLogger } from "../../../../lib/logger.ts";
import type { Envelope } from "../../../../mailservers/core/types.ts";
import { parseMarkers, type MarkerContent } from "../../../../mailservers/inbound/store/append/crash-markers.ts";
import {
  createMboxStore,
  type FaultInjector,
  type MboxStore,
  type StoreTarget,
} from "../../../../mailservers/inbound/store/index.ts";

const run = promisify(execFile);

let sequence = 0;

/** Owners the store tests deliver to. */
export const OWNERS = ["bob", "carol", "dave", "admin"] as const;

/**
 * A temp mail root with the mailbox roots of `owners` provisioned (the store never creates
 * a root: on the VM it is a mount made by mailbox-fs.sh; locally the applier's mkdir).
 */
export async function makeMailRoot(
  t: TestContext,
  parent = tmpdir(),
  owners: readonly string[] = OWNERS,
): Promise<string> {
  const dir = await mkdtemp(path.join(parent, "semail-store-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const owner of owners) await provisionRoot(dir, owner);
  return dir;
}

export function makeStore(
  t: TestContext,
  mailRoot: string,
  extra: { lockTimeoutMs?: number; staleLockMs?: number; faults?: FaultInjector; minFreeSpace?: number } = {},
): MboxStore {
  const store = createMboxStore({ mailRoot, hostname: "mx.semail.test", logger: silentLogger(), ...extra });
  t.after(() => store.close());
  return store;
}

export function makeEnvelope(mailFrom: string, recipients: readonly string[]): Envelope {
  return {
    id: `T${++sequence}`,
    session: {
      id: "s1",
      remoteAddress: "127.0.0.1",
      remotePort: 40000,
      localAddress: "127.0.0.1",
      localPort: 25,
      clientHostname: "client.example",
      secure: false,
    },
    mailFrom,
    recipients,
    protocol: "ESMTP",
    receivedAt: new Date(Date.UTC(2026, 10, 4, 3, 4, 5)),
  };
}

export function target(owner: string, recipient = `${owner}@semail.test`, quota = 1 << 30): StoreTarget {
  return { owner, recipient, quota };
}

/** Delivers simpleMessage(subject) from `sender` to the mailbox of `owner` (owner@semail.test). */
export function deliverSimple(
  store: MboxStore,
  owner: string,
  subject: string,
  sender = "alice@example.org",
): ReturnType<MboxStore["deliver"]> {
  return store.deliver(
    makeEnvelope(sender, [`${owner}@semail.test`]),
    [target(owner)],
    messageStream(simpleMessage(subject)),
  );
}

/** The message as the SMTP front end hands it over: CRLF lines, in small chunks. */
export function messageStream(text: string, chunk = 7): Readable {
  const data = Buffer.from(text.replace(/\r?\n/g, "\r\n"));
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  return Readable.from(parts);
}

export function simpleMessage(subject: string, body = "Hello.\n"): string {
  return `From: Alice <alice@example.org>\nTo: bob@semail.test\nSubject: ${subject}\n\n${body}`;
}

export interface ParsedMessage {
  from_line: string;
  headers: [string, string][];
  /** Body as stored (Python undoes no quoting). */
  body: string;
  subject: string | null;
}

/** Crash-marker slots still claimed under the mail root: none once deliveries are over. */
export async function claimedMarkers(mailRoot: string): Promise<MarkerContent[]> {
  const dir = path.join(mailRoot, ".tmp", "pending");
  const claimed: MarkerContent[] = [];
  for (const name of await readdir(dir)) claimed.push(...parseMarkers(await readFile(path.join(dir, name))));
  return claimed;
}

/** Every file and directory under the mailbox roots (outside `.tmp`), relative: none after a refused delivery. */
export async function mailFiles(mailRoot: string): Promise<string[]> {
  const entries = (await readdir(mailRoot, { recursive: true })).map(String);
  const provisioned = async (name: string) =>
    OWNERS.includes(name as (typeof OWNERS)[number]) ||
    (name.endsWith(`${path.sep}INBOX`) &&
      name.split(path.sep).length === 2 &&
      (await stat(path.join(mailRoot, name))).size === 0);
  const kept: string[] = [];
  for (const name of entries)
    if (name !== ".tmp" && !name.startsWith(`.tmp${path.sep}`) && !(await provisioned(name))) kept.push(name);
  return kept.sort();
}

/** Files in the store's temp directory other than the marker directory: none once deliveries are over. */
export async function tempFiles(mailRoot: string): Promise<string[]> {
  return (await readdir(path.join(mailRoot, ".tmp"))).filter((name) => name !== "pending");
}

/** Reads an mbox with Python's mailbox.mbox (no locking) and returns every message. */
export async function readMbox(file: string): Promise<ParsedMessage[]> {
  const script = `
import json, mailbox, sys
out = []
for m in mailbox.mbox(sys.argv[1], create=False):
    body = m.get_payload(decode=True)
    out.append({"from_line": m.get_from(), "headers": [[k, str(v)] for k, v in m.items()],
                "body": body.decode("utf-8", "replace") if body is not None else "", "subject": None if m["Subject"] is None else str(m["Subject"])})
print(json.dumps(out))
`;
  const { stdout } = await run("python3", ["-c", script, file], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as ParsedMessage[];
}

/**
 * A real ext4 filesystem of `bytes`, made and loop-mounted as mailbox-fs.sh does (no
 * blocks reserved for root), at `at` (made if missing) or in a temp directory. Unmounted
 * after the test, leaving no loop device (mount's autoclear): register the removal of a
 * directory holding `at` after this call, so that it runs after the unmount. Returns the
 * mount point, or why not (not root, no loop devices here): the caller skips.
 */
export async function mountedExt4(t: TestContext, bytes: number, at?: string): Promise<string | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: "needs root to loop-mount an ext4 image" };
  const work = await mkdtemp(path.join(tmpdir(), "semail-ext4-"));
  const image = path.join(work, "fs.img");
  const mountPoint = at ?? path.join(work, "mnt");
  await mkdir(mountPoint, { recursive: true });
  await run("truncate", ["-s", String(bytes), image]);
  await run("mkfs.ext4", ["-q", "-F", "-m", "0", image]);
  try {
    await run("mount", ["-o", "loop,nodev,nosuid,noexec", image, mountPoint]);
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    return { skip: `cannot loop-mount here: ${(error as Error).message.split("\n")[0]}` };
  }
  t.after(async () => {
    await run("umount", [mountPoint]).catch(() => run("umount", ["-l", mountPoint]));
    await rm(work, { recursive: true, force: true });
  });
  return mountPoint;
}

/** What provisioning leaves: the owner's root with an empty INBOX in it. */
export async function provisionRoot(mailRoot: string, owner: string): Promise<void> {
  await mkdir(path.join(mailRoot, owner), { recursive: true, mode: 0o700 });
  await writeFile(path.join(mailRoot, owner, "INBOX"), "", { flag: "a", mode: 0o600 });
}
