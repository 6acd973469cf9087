/**
 * Short runs over a database, for the API: take a backup, read what exists (backups, the
 * reachable range, past restores and drills), and preview a restore's plan. They exist so the
 * API needs no database or AWS credentials: the worker's activities hold them.
 *
 * Invariants: the preview and the inventory change nothing; a backup is keyed by its id, so a
 * retried run finds the backup its first attempt made. An RDS database's activities run on its
 * region's queue, a PostgreSQL database's on the main queue (src/domain/regions.ts); the ledger
 * (past runs, through Temporal) is read on the main queue.
 */
import { proxyActivities, upsertSearchAttributes, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BackupInfo, BackupKind, Inventory } from '../src/domain/database';
import { databaseQueue } from '../src/domain/regions';
import type { DatabaseSpec, PlanResult, RestoreTarget, RunRecord } from '../src/domain/restore';
import { BatonEnvironment, BatonKind, BatonPhase, BatonService } from './messages';

const QUICK: ActivityOptions = { startToCloseTimeout: '60s', heartbeatTimeout: '20s', retry: { maximumAttempts: 3, initialInterval: '1s' } };
const LONG: ActivityOptions = { startToCloseTimeout: '6h', heartbeatTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '5s' } };
/** Activities that act on no AWS region (the ledger, through Temporal). */
const quick = proxyActivities<Activities>(QUICK);

/** The activities that act on `spec`'s database, on its queue. */
function onDatabase(spec: DatabaseSpec) {
  const taskQueue = databaseQueue(workflowInfo().taskQueue, spec.target);
  return { quick: proxyActivities<Activities>({ ...QUICK, taskQueue }), long: proxyActivities<Activities>({ ...LONG, taskQueue }) };
}

export interface BackupInput {
  id: string;
  spec: DatabaseSpec;
  kind: BackupKind;
  takenBy: string;
}

export async function databaseBackup(input: BackupInput): Promise<BackupInfo> {
  upsertSearchAttributes([
    { key: BatonKind, value: 'backup' },
    { key: BatonService, value: input.spec.database },
    { key: BatonEnvironment, value: input.spec.environment },
    { key: BatonPhase, value: 'backing_up' },
  ]);
  const info = await onDatabase(input.spec).long.takeBackup(input.spec.target, { backupId: input.id, kind: input.kind, critical: input.spec.critical, takenBy: input.takenBy });
  upsertSearchAttributes([{ key: BatonPhase, value: info.verified.ok ? 'verified' : 'unverified' }]);
  return info;
}

export interface DatabaseFacts {
  inventory: Inventory;
  runs: RunRecord[];
}

export async function databaseInventory(spec: DatabaseSpec): Promise<DatabaseFacts> {
  const [inventory, runs] = await Promise.all([onDatabase(spec).quick.inventory(spec.target), quick.databaseRuns(spec.database, spec.environment)]);
  return { inventory, runs };
}

export async function restorePlanPreview(input: { spec: DatabaseSpec; target: RestoreTarget; incidentAt: string | null }): Promise<PlanResult> {
  return onDatabase(input.spec).quick.planRestore(input);
}
