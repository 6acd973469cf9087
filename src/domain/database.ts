// Databases as restores, backups and drills see them: targets, backups, the reachable range,
// restored copies and verification results. Pure data shared by config, workflows, the API and
// the providers (src/providers/database.ts is the interface that produces them).

/** A self-managed PostgreSQL database (and the cluster it lives in). Credentials come from the worker's environment (PGPASSWORD), never from here. */
export interface PostgresTarget {
  kind: 'postgres';
  host: string;
  port: number;
  /** The database the services use: a restore's switch gives this name to the restored copy. */
  database: string;
  user: string;
  /** Where base backups and dumps are kept, one directory per backup holding its `backup.json`. */
  backupDir: string;
  /** Where the live cluster's archive_command puts WAL segments (point-in-time restores replay from here). */
  walArchiveDir: string;
  /** Where point-in-time restores build their temporary clusters (removed when done). */
  scratchDir: string;
}

/** An Amazon RDS instance. */
export interface RdsTarget {
  kind: 'rds';
  region: string;
  /** The instance the services use. */
  instanceId: string;
  /** How the services are moved to the restored instance: rename the instances, or repoint a Route 53 record. */
  switch: { type: 'rename' } | { type: 'route53'; hostedZoneId: string; recordName: string; ttl: number };
}

export type DatabaseTarget = PostgresTarget | RdsTarget;

/** Row count and content checksum of one table, as a backup recorded it. */
export interface TableFacts {
  rows: number;
  /** md5 of the table's rows in a stable order; null where the provider cannot read rows (RDS without a connection). */
  checksum: string | null;
}

/** What a backup held for the tables config marks critical: table name → facts. */
export type BackupManifest = Record<string, TableFacts>;

export type BackupKind = 'base' | 'logical' | 'snapshot';

export interface BackupInfo {
  id: string;
  kind: BackupKind;
  /** The instant the backup's data is consistent at (ISO-8601, UTC). */
  consistentAt: string;
  /** Whether a point-in-time restore can start from it and replay the log (base backups, RDS: yes; dumps, manual snapshots: no). */
  replayable: boolean;
  sizeBytes: number | null;
  /** Facts about the critical tables as of consistentAt; null when none were recorded. */
  manifest: BackupManifest | null;
  /** The backup's own checks when it was taken (pg_verifybackup; the snapshot's status). */
  verified: { ok: boolean; detail: string };
  /** Who asked for it ('schedule' for automated ones). */
  takenBy: string | null;
}

export interface Inventory {
  backups: BackupInfo[];
  /** The instants a point-in-time restore can reach, or null when the log cannot be replayed (no base backup, no archive). */
  pointInTime: { earliest: string; latest: string } | null;
}

export interface RestoreRequest {
  /** Names the restored copy; a repeat with the same id finds the copy already made and returns it. */
  restoreId: string;
  backupId: string;
  /** Replay the log up to and including this instant; null: the backup exactly as taken. */
  pointInTime: string | null;
}

export interface RestoredCopy {
  /** Where the copy lives: the database's name in the live cluster (postgres) or the instance id (RDS). */
  name: string;
  /** How to reach it, without credentials (postgres://host:port/db, or the RDS endpoint), or null. */
  url: string | null;
  /** The last commit the copy holds (postgres: the last replayed commit; RDS: the restore time), or null if unknown. */
  lastCommitAt: string | null;
}

export type VerificationKind = 'backup' | 'amcheck' | 'manifest' | 'assertion' | 'available';

export interface VerificationResult {
  name: string;
  kind: VerificationKind;
  /** Fail-closed: a check that could not run is not ok. */
  ok: boolean;
  detail: string;
}

export interface VerifySpec {
  /** Compare the copy's critical tables with this (restores to a backup's own point); null: not applicable. */
  manifest: BackupManifest | null;
  /** Each must return one row whose first column is true. */
  assertions: { name: string; sql: string }[];
}

/** Which database answers to the services' name now. */
export interface SwitchState {
  serving: 'original' | 'restored';
  /** Where the original is kept while the copy serves (postgres: database name; RDS: instance id), or null. */
  setAside: string | null;
  detail: string;
}

