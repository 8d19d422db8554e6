// What stays of a deleted mailbox in local mode, and whose it is. Deleting keeps the mail:
// the image file <imageDir>/<owner>.img (root), or the directory <mailRoot>/<owner> (not
// root). Making the owner's mailbox again would mount it as it is, so each storage records
// the address it was made for (<owner>.address beside it, where the owner's container cannot
// write), and a mailbox with another address never gets it unasked: the storage is set
// aside (renamed into set-aside/, never deleted) and the new mailbox starts empty. The web
// form asks the owner first and records the answer here: "restore" makes the new address
// the storage's, "set-aside" moves it away now.
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { KeptMail, KeptMailChoice } from "../../config/applier.ts";
import { provisioningState } from "../../config/mailbox-layout.ts";

export interface KeptMailPlaces {
  readonly mailRoot: string;
  /** Image files (root); undefined: plain directories under mailRoot. */
  readonly imageDir?: string;
}

interface Paths {
  /** The image file, or the plain root. */
  readonly storage: string;
  /** The address the storage was made for, one line. */
  readonly addressFile: string;
  readonly asideDir: string;
}

function pathsOf(places: KeptMailPlaces, owner: string): Paths {
  if (places.imageDir !== undefined) {
    return {
      storage: join(places.imageDir, `${owner}.img`),
      addressFile: join(places.imageDir, `${owner}.address`),
      asideDir: join(places.imageDir, "set-aside"),
    };
  }
  // Dot names: never an owner id (config/users-list.ts), so never taken for a mailbox root.
  return {
    storage: join(places.mailRoot, owner),
    addressFile: join(places.mailRoot, ".semail-addresses", owner),
    asideDir: join(places.mailRoot, ".semail-set-aside"),
  };
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function present(places: KeptMailPlaces, paths: Paths): Promise<boolean> {
  if (places.imageDir !== undefined) return exists(paths.storage);
  return provisioningState(paths.storage) === "ready";
}

/** The address `owner`'s storage was made for; undefined when none is recorded (made before this record existed). */
export async function recordedAddress(places: KeptMailPlaces, owner: string): Promise<string | undefined> {
  const text = await readFile(pathsOf(places, owner).addressFile, "utf8").catch(() => "");
  return text.trim() || undefined;
}

/** Records that `owner`'s storage is the mailbox `address`'s (after it was made or mounted for it, or the owner chose to bring it back). */
export async function recordAddress(places: KeptMailPlaces, owner: string, address: string): Promise<void> {
  const { addressFile } = pathsOf(places, owner);
  if ((await recordedAddress(places, owner)) === address) return;
  await mkdir(dirname(addressFile), { recursive: true, mode: 0o700 });
  await writeFile(addressFile, `${address}\n`, { mode: 0o600 });
}

/** What is kept of `owner`'s storage; `mounted` says whether it is still in use (its deletion not applied yet). */
export async function keptMailOf(
  places: KeptMailPlaces,
  owner: string,
  mounted: boolean,
): Promise<KeptMail | undefined> {
  const paths = pathsOf(places, owner);
  if (!(await present(places, paths))) return undefined;
  const address = await recordedAddress(places, owner);
  const bytes = places.imageDir !== undefined ? (await stat(paths.storage)).size : undefined;
  return { ...(address !== undefined ? { address } : {}), ...(bytes !== undefined ? { bytes } : {}), inUse: mounted };
}

/**
 * Moves `owner`'s storage and its address record into the set-aside folder, under a name
 * with the time; answers the new path. Nothing is deleted: an administrator can look.
 */
export async function setAside(places: KeptMailPlaces, owner: string, now = new Date()): Promise<string> {
  const paths = pathsOf(places, owner);
  await mkdir(paths.asideDir, { recursive: true, mode: 0o700 });
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.(\d+)Z$/, "$1Z");
  const suffix = places.imageDir !== undefined ? ".img" : "";
  // rename replaces a file silently: a name already taken (two in one millisecond) gets a number.
  let target = join(paths.asideDir, `${owner}-${stamp}${suffix}`);
  for (let n = 2; (await exists(target)) || (await exists(`${target}.address`)); n++) {
    if (n > 100) throw new Error(`no free name for ${owner}'s kept mail in ${paths.asideDir}`);
    target = join(paths.asideDir, `${owner}-${stamp}-${n}${suffix}`);
  }
  await rename(paths.storage, target);
  await rename(paths.addressFile, `${target}.address`).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
  return target;
}

/**
 * Before `owner`'s filesystem is made or mounted for `address`: storage recorded for another
 * address is set aside, so the mailbox starts empty. Answers where it went, or undefined
 * when the storage is this address's (or new, or of unknown address: made before records).
 */
export async function setAsideIfAnother(
  places: KeptMailPlaces,
  owner: string,
  address: string,
): Promise<string | undefined> {
  const recorded = await recordedAddress(places, owner);
  if (recorded === undefined || recorded === address) return undefined;
  if (!(await present(places, pathsOf(places, owner)))) return undefined;
  return setAside(places, owner);
}

/** Carries out the owner's choice on the form for their kept mail, before their new mailbox `address` is listed. */
export async function decideKeptMail(
  places: KeptMailPlaces,
  owner: string,
  address: string,
  choice: KeptMailChoice,
  mounted: boolean,
): Promise<void> {
  if (!(await present(places, pathsOf(places, owner)))) return;
  if (choice === "restore") return recordAddress(places, owner, address);
  if (mounted) throw new Error("your earlier mailbox is still being taken down; try again in a minute");
  await setAside(places, owner);
}
