// The backups' face (`semail backup`, `semail restore`, the report's check): restic over the
// mailboxes copied under their locks, the directory's dump and the files the settings name.
export { BackupNotConfiguredError, configuredRepository, runBackup } from "./backup.ts";
export { listSnapshots, repositoryOf, ResticError, type Snapshot } from "./restic.ts";
export { restoreAll, restoreMailbox, SnapshotNotFoundError, type RestoreResult } from "./restore.ts";
export { readBackupStatus, type BackupStatus } from "./status.ts";
export { plainPaths } from "./plan.ts";
