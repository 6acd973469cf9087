// The database providers' interface: what a restore, a backup and a drill ask of a database,
// whatever runs it. `postgres.ts` (self-managed PostgreSQL: base backups + WAL archive, and
// logical dumps) and `rds.ts` (Amazon RDS: snapshots and point-in-time restore) implement it.
// Like the other providers, every write is safe to repeat (keyed by the backup's or the
// restore's id) and every safety step converges from what it reads, not from what it was told.
// The data it speaks in lives in src/domain/database.ts (workflows share it).
import type {
  BackupInfo,
  BackupKind,
  DatabaseTarget,
  Inventory,
  RestoredCopy,
  RestoreRequest,
  SwitchState,
  VerificationResult,
  VerifySpec,
} from '../domain/database';

export type * from '../domain/database';

export interface DatabaseProvider {
  inventory(target: DatabaseTarget): Promise<Inventory>;
  /** Takes a backup with this id (idempotent), records the critical tables' manifest, runs the backup's own checks. */
  backup(target: DatabaseTarget, req: { backupId: string; kind: BackupKind; critical: string[]; takenBy: string }): Promise<BackupInfo>;
  /** Re-runs the backup's own checks (pg_verifybackup; the snapshot is available) before restoring from it. */
  verifyBackup(target: DatabaseTarget, backupId: string): Promise<VerificationResult>;
  /** Restores into a new copy beside the original (never over it); idempotent by restoreId. */
  restore(target: DatabaseTarget, req: RestoreRequest): Promise<RestoredCopy>;
  /** Integrity (amcheck), the manifest and the assertions, on the copy. */
  verify(target: DatabaseTarget, restoreId: string, spec: VerifySpec): Promise<VerificationResult[]>;
  /** Reads which database serves under the services' name. */
  serving(target: DatabaseTarget, restoreId: string): Promise<SwitchState>;
  /** Converges to: the copy serves under the services' name, the original kept as `setAside`. */
  switchTo(target: DatabaseTarget, restoreId: string, setAside: string): Promise<SwitchState>;
  /** Converges to: the original serves again under its name, the copy back under its own name (dropCopy removes it). */
  switchBack(target: DatabaseTarget, restoreId: string, setAside: string): Promise<SwitchState>;
  /** Removes the copy if it exists and does not serve (idempotent); never touches the database that serves. */
  dropCopy(target: DatabaseTarget, restoreId: string): Promise<void>;
  /** Removes a set-aside original after its retention (idempotent); refuses one that serves. */
  dropSetAside(target: DatabaseTarget, setAside: string): Promise<void>;
}
