// Activities over databases: plan, back up, restore, verify, switch and clean up, each a thin
// wrapper over the database provider (src/providers/database.ts), plus the database's ledger
// (past restores and drills) and the capacity of the services that use a database.
//
// A restore or a backup can run for a long time: each heartbeats while its provider call runs,
// so a worker that dies is noticed within the heartbeat timeout and the call is retried on
// another worker, where the provider finds what the first attempt made (everything is keyed by
// the backup's or the restore's id).
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { BackupInfo, BackupKind, DatabaseTarget, Inventory, RestoredCopy, RestoreRequest, SwitchState, VerificationResult, VerifySpec } from '../src/domain/database';
import { planRestore, type DatabaseSpec, type PlanResult, type RestoreTarget, type RunRecord } from '../src/domain/restore';
import { checkCompute, checkDatabaseTarget } from '../src/domain/spec-check';
import type { ComputeTarget } from '../src/domain/types';
import type { DatabaseProvider } from '../src/providers/database';
import { ledgerId, ledgerQuery, ledgerRecordSignal } from '../workflows/messages';
import { allowOnly, call } from './aws';
import type { ActivityDeps } from './deps';

export interface PlanRequest {
  spec: DatabaseSpec;
  target: RestoreTarget;
  incidentAt: string | null;
}

export function databaseActivities(deps: ActivityDeps) {
  const db = (): DatabaseProvider => {
    if (!deps.databases) throw ApplicationFailure.create({ type: 'WorkerMisconfigured', message: 'this worker has no database provider', nonRetryable: true });
    return deps.databases;
  };

  /** A database target that is not one of the worker's config is refused before any call. */
  const targetAllowed = (what: string, target: DatabaseTarget) => allowOnly(deps, what, (a) => checkDatabaseTarget(a, target));

  async function pastRuns(database: string, environment: string): Promise<RunRecord[]> {
    if (!deps.temporal) return [];
    try {
      return (await deps.temporal.workflow.getHandle(ledgerId(database, environment)).query(ledgerQuery)).runs;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return [];
      throw err;
    }
  }

  return {
    /** The plan for a target against the backups that exist now; a target no backup reaches is `{ok: false}` naming the reachable range. */
    async planRestore(req: PlanRequest): Promise<PlanResult> {
      targetAllowed('planning a restore', req.spec.target);
      const inventory = await call(() => db().inventory(req.spec.target));
      const runs = await pastRuns(req.spec.database, req.spec.environment);
      const pastDurationsSeconds = runs.filter((r) => r.outcome === 'succeeded' && r.durationSeconds !== null).map((r) => r.durationSeconds as number);
      return planRestore(req.spec, inventory, req.target, { nowMs: Date.now(), incidentAt: req.incidentAt, pastDurationsSeconds });
    },

    async inventory(target: DatabaseTarget): Promise<Inventory> {
      targetAllowed('listing backups', target);
      return call(() => db().inventory(target));
    },

    async takeBackup(target: DatabaseTarget, req: { backupId: string; kind: BackupKind; critical: string[]; takenBy: string }): Promise<BackupInfo> {
      targetAllowed('taking a backup', target);
      return call(() => db().backup(target, req));
    },

    async verifyBackup(target: DatabaseTarget, backupId: string): Promise<VerificationResult> {
      targetAllowed('verifying a backup', target);
      return call(() => db().verifyBackup(target, backupId));
    },

    async restoreDatabase(target: DatabaseTarget, req: RestoreRequest): Promise<RestoredCopy> {
      targetAllowed('restoring a database', target);
      return call(() => db().restore(target, req));
    },

    async verifyRestore(target: DatabaseTarget, restoreId: string, spec: VerifySpec): Promise<VerificationResult[]> {
      targetAllowed('verifying a restore', target);
      return call(() => db().verify(target, restoreId, spec));
    },

    async databaseServing(target: DatabaseTarget, restoreId: string): Promise<SwitchState> {
      targetAllowed('reading which database serves', target);
      return call(() => db().serving(target, restoreId));
    },

    async switchDatabase(target: DatabaseTarget, restoreId: string, setAside: string): Promise<SwitchState> {
      targetAllowed('switching a database', target);
      return call(() => db().switchTo(target, restoreId, setAside));
    },

    async switchDatabaseBack(target: DatabaseTarget, restoreId: string, setAside: string): Promise<SwitchState> {
      targetAllowed('switching a database back', target);
      return call(() => db().switchBack(target, restoreId, setAside));
    },

    async dropRestoredCopy(target: DatabaseTarget, restoreId: string): Promise<void> {
      targetAllowed('dropping a restored copy', target);
      return call(() => db().dropCopy(target, restoreId));
    },

    async dropSetAside(target: DatabaseTarget, setAside: string): Promise<void> {
      targetAllowed('dropping a set-aside database', target);
      return call(() => db().dropSetAside(target, setAside));
    },

    /** How many tasks each colour of a service is set to run (what a restore resumes it to). */
    async readCapacity(target: ComputeTarget): Promise<{ blue: number; green: number }> {
      allowOnly(deps, 'reading a service\'s capacity', (a) => checkCompute(a, target));
      const [blue, green] = await Promise.all([call(() => deps.compute.describe(target, 'blue')), call(() => deps.compute.describe(target, 'green'))]);
      return { blue: blue.desiredCount, green: green.desiredCount };
    },

    /** Adds a finished run to its database's ledger, starting the ledger with the first. */
    async recordDatabaseRun(database: string, environment: string, record: RunRecord, taskQueue: string): Promise<void> {
      if (!deps.temporal) return;
      await deps.temporal.workflow.signalWithStart('databaseLedger', {
        workflowId: ledgerId(database, environment),
        taskQueue,
        args: [{}],
        signal: ledgerRecordSignal,
        signalArgs: [record],
      });
    },

    /** The finished restores and drills of a database, newest last. */
    async databaseRuns(database: string, environment: string): Promise<RunRecord[]> {
      return pastRuns(database, environment);
    },
  };
}
