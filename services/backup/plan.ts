// What a backup holds, derived from the settings: the files restic reads where they are (the
// users list, the outbound spool, the TLS files, the DKIM and ACME keys, the ACME state, the
// Pulumi state, backup.paths), and the staging folder, where the mailboxes are copied under
// their locks and the directory is dumped (slapcat). Restoring puts each back at the same path.
import path from "node:path";
import type { Settings } from "../../config/settings.ts";

/** A file or folder restic reads in place, and the setting that names it. */
export interface PlannedPath {
  readonly path: string;
  readonly setting: string;
}

export function plainPaths(settings: Settings): PlannedPath[] {
  const planned: PlannedPath[] = [
    { path: settings.users, setting: "users" },
    { path: settings.outbound.spool, setting: "outbound.spool" },
    ...(settings.tls.cert !== undefined ? [{ path: settings.tls.cert, setting: "tls.cert" }] : []),
    ...(settings.tls.key !== undefined ? [{ path: settings.tls.key, setting: "tls.key" }] : []),
    ...settings.outbound.delivery.dkim.map((key, i) => ({
      path: key.privateKeyFile,
      setting: `outbound.delivery.dkim[${i}].privateKeyFile`,
    })),
    { path: settings.acme.accountKey, setting: "acme.accountKey" },
    { path: settings.acme.stateDir, setting: "acme.stateDir" },
    ...(settings.backup.pulumiStateDir !== undefined
      ? [{ path: settings.backup.pulumiStateDir, setting: "backup.pulumiStateDir" }]
      : []),
    ...settings.backup.paths.map((p, i) => ({ path: p, setting: `backup.paths[${i}]` })),
  ];
  const seen = new Set<string>();
  return planned
    .map((p) => ({ ...p, path: path.resolve(p.path) }))
    .filter((p) => !seen.has(p.path) && seen.add(p.path));
}

/** The staging folder: `mail/<owner>/` copies and `directory.ldif`; at the same path in every snapshot. */
export function stagingDir(settings: Settings): string {
  return path.resolve(settings.backup.stateDir, "staging");
}

/** Where a mailbox's copy is in the staging folder (and so in a snapshot). */
export function stagedMailbox(settings: Settings, owner: string): string {
  return path.join(stagingDir(settings), "mail", owner);
}

/** Where the directory's dump is in the staging folder. */
export function stagedDirectory(settings: Settings): string {
  return path.join(stagingDir(settings), "directory.ldif");
}
