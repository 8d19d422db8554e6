// `command:remote:CopyToRemote` as pulumi-command v1.2.1 behaves, for a file or text asset:
// copied on create, copied again on update only when the asset's hash or remotePath changed,
// left in place on delete; outputs are the inputs. Upstream writes with SFTP; the stand-in
// streams the file into `cat` over ssh, with the same placement rules (into an existing
// directory, else at remotePath with its parent directories made).
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { shellQuote } from "../../../../lib/shell.ts";
import { sshConnection, withCheckedConnection } from "./connection.ts";
import { diffInputs } from "./diff-rules.ts";
import { checkShapes } from "./input-shapes.ts";
import { notSupported, type CheckFailure, type ResourceKind } from "./resource-kind.ts";
import { runRemote, type Stdin } from "./ssh-session.ts";
import { isArchive, isUnknown, reveal, sameValue, unwrapSecret, type Props } from "./wire-values.ts";

export const COPY_TYPE = "command:remote:CopyToRemote";

interface AssetSource {
  readonly path?: string;
  readonly text?: string;
  readonly uri?: string;
  readonly hash?: string;
}

function checkSource(source: unknown): CheckFailure[] {
  const plain = unwrapSecret(source);
  if (isUnknown(plain)) return [];
  if (isArchive(plain))
    return [{ property: "source", reason: notSupported("an archive source (FileArchive, AssetArchive)") }];
  const asset = reveal(plain) as AssetSource;
  if (typeof asset.path !== "string" && typeof asset.text !== "string") {
    return [{ property: "source", reason: "asset must be a path-based file asset or a text asset" }];
  }
  return [];
}

/** The remote script: where the copy lands (upstream's rules), then `cat` writes it. */
export function copyScript(remotePath: string, source: AssetSource): string {
  const dest = `dest=${shellQuote(remotePath)}`;
  if (typeof source.text === "string") {
    return [
      dest,
      `if [ -d "$dest" ]; then echo "remote path $dest is a directory; when using a text asset, remotePath must be a file path" >&2; exit 1; fi`,
      `mkdir -p -- "$(dirname -- "$dest")" && cat > "$dest"`,
    ].join("\n");
  }
  return [
    dest,
    `if [ -d "$dest" ]; then dest="$dest"/${shellQuote(basename(source.path ?? ""))}; else mkdir -p -- "$(dirname -- "$dest")" || exit 1; fi`,
    `cat > "$dest"`,
  ].join("\n");
}

async function copy(inputs: Props, signal: AbortSignal): Promise<void> {
  const { connection, source, remotePath } = reveal(inputs) as {
    connection: unknown;
    source: AssetSource;
    remotePath: string;
  };
  let stdin: Stdin;
  if (typeof source.text === "string") {
    stdin = { text: source.text };
  } else {
    const file = resolve(source.path ?? "");
    if ((await stat(file)).isDirectory()) throw new Error(notSupported(`a directory as source (${file})`));
    stdin = { file };
  }
  const result = await runRemote(sshConnection(connection), copyScript(remotePath, source), { stdin, signal });
  if (result.exitCode !== 0) {
    throw new Error(
      `failed to copy ${source.path ?? "a text asset"} to remote path ${remotePath}: ${result.combined.trim()}`,
    );
  }
}

/** Upstream copies again only for new content (the asset hash) or a new remotePath. */
function needsCopy(olds: Props, news: Props): boolean {
  const before = reveal(olds) as { source?: AssetSource; remotePath?: string };
  const after = reveal(news) as { source?: AssetSource; remotePath?: string };
  const sameContent =
    before.source?.hash && after.source?.hash
      ? before.source.hash === after.source.hash
      : sameValue(before.source, after.source);
  return !sameContent || before.remotePath !== after.remotePath;
}

export const copyToRemote: ResourceKind = {
  outputsOnly: [],

  check(news) {
    const { connection: _checkedApart, ...rest } = news;
    const failures: CheckFailure[] = [
      ...checkShapes(rest, { source: "asset or archive", remotePath: "string", triggers: "array" }, [
        "source",
        "remotePath",
      ]),
      ...(rest.source === undefined || rest.source === null ? [] : checkSource(rest.source)),
    ];
    return withCheckedConnection(news, failures);
  },

  diff: (oldInputs, news) => diffInputs(oldInputs, news, ["triggers"]),

  async create(inputs, op) {
    if (op.preview) return { id: "", outputs: inputs };
    await copy(inputs, op.signal);
    return { id: randomBytes(4).toString("hex"), outputs: inputs };
  },

  async update(olds, news, op) {
    if (!op.preview && needsCopy(olds, news)) await copy(news, op.signal);
    return news;
  },

  // Upstream leaves the copied file where it is.
  async delete() {},
};
