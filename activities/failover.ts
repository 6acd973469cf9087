// Activities over disaster recovery: readiness's reads of a service's DR posture (each a thin
// wrapper over the DR inspector, src/providers/dr.ts, run on the queue of the region it reads),
// the writes of a failover, failback or drill (over the DR operator, src/providers/dr-ops.ts, on
// the queue of the region each acts on), and the readiness registry (through Temporal, on the
// main queue). call() heartbeats while a provider waits (a promotion, a new replica: minutes),
// so a heartbeat timeout notices a dead worker and a cancellation ends the wait.
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Colour, ComputeTarget } from '../src/domain/types';
import type { DrComputeFacts, FailoverDns, FailoverRecordFacts, InstanceFacts, RdsInstanceRef, ReadinessReport, ReplicaFacts, ReplicaLagFacts } from '../src/domain/failover';
import type { DrInspector, DrOperator } from '../src/providers/types';
import { READINESS_REGISTRY_ID, readinessQuery, readinessRecordSignal } from '../workflows/messages';
import { call } from './aws';
import type { ActivityDeps } from './deps';

export function failoverActivities(deps: ActivityDeps) {
  const dr = (): DrInspector => {
    if (!deps.dr) throw ApplicationFailure.create({ type: 'WorkerMisconfigured', message: 'this worker has no DR inspector', nonRetryable: true });
    return deps.dr;
  };
  const drOps = (): DrOperator => {
    if (!deps.drOps) throw ApplicationFailure.create({ type: 'WorkerMisconfigured', message: 'this worker has no DR operator', nonRetryable: true });
    return deps.drOps;
  };
  return {
    async readDrCompute(target: ComputeTarget): Promise<DrComputeFacts> {
      return call(() => dr().compute(target));
    },

    async readReplica(instance: RdsInstanceRef): Promise<ReplicaFacts> {
      return call(() => dr().replica(instance));
    },

    /** The newest ReplicaLag datapoint in the `windowSeconds` before `endIso` (the workflow's time, so a retry reads the same window). */
    async readReplicaLag(instance: RdsInstanceRef, windowSeconds: number, endIso: string): Promise<ReplicaLagFacts> {
      return call(() => dr().replicaLag(instance, windowSeconds, new Date(endIso)));
    },

    async readFailoverRecords(dns: FailoverDns, region: string): Promise<FailoverRecordFacts[]> {
      return call(() => dr().failoverRecords(dns, region));
    },

    // ------------------------------------------------------------ failover writes (DrOperator)

    async describeDbInstance(instance: RdsInstanceRef): Promise<InstanceFacts> {
      return call(() => drOps().describeInstance(instance));
    },

    async fenceDatabase(instance: RdsInstanceRef, runId: string): Promise<InstanceFacts> {
      return call(() => drOps().fenceDatabase(instance, runId));
    },

    async unfenceDatabase(instance: RdsInstanceRef): Promise<InstanceFacts> {
      return call(() => drOps().unfenceDatabase(instance));
    },

    async promoteReplica(instance: RdsInstanceRef): Promise<InstanceFacts> {
      return call(() => drOps().promoteReplica(instance));
    },

    async createReplica(source: RdsInstanceRef, replica: RdsInstanceRef, like: RdsInstanceRef): Promise<InstanceFacts> {
      return call(() => drOps().createReplica(source, replica, like));
    },

    async renameDbInstance(instance: RdsInstanceRef, newId: string): Promise<InstanceFacts> {
      return call(() => drOps().renameInstance(instance, newId));
    },

    async deleteDbInstance(instance: RdsInstanceRef, finalSnapshotId: string | null): Promise<void> {
      return call(() => drOps().deleteInstance(instance, finalSnapshotId));
    },

    async fenceServices(target: ComputeTarget, runId: string): Promise<Record<Colour, number>> {
      return call(() => drOps().fenceServices(target, runId));
    },

    async unfenceServices(target: ComputeTarget, counts: Record<Colour, number> | null): Promise<Record<Colour, number>> {
      return call(() => drOps().unfenceServices(target, counts));
    },

    async fencedCounts(target: ComputeTarget): Promise<Record<Colour, number> | null> {
      return call(() => drOps().fencedCounts(target));
    },

    async setDnsPrimary(dns: FailoverDns, primarySetIdentifier: string, region: string): Promise<FailoverRecordFacts[]> {
      return call(() => drOps().setDnsPrimary(dns, primarySetIdentifier, region));
    },

    /** The latest readiness report of each service environment; [] before the first run. */
    async latestReadiness(): Promise<ReadinessReport[]> {
      if (!deps.temporal) return [];
      try {
        return (await deps.temporal.workflow.getHandle(READINESS_REGISTRY_ID).query(readinessQuery)).reports;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return [];
        throw err;
      }
    },

    /** Records a readiness run's reports in the registry, starting it with the first. */
    async recordReadiness(reports: ReadinessReport[], taskQueue: string): Promise<void> {
      if (!deps.temporal) return;
      await deps.temporal.workflow.signalWithStart('readinessRegistry', {
        workflowId: READINESS_REGISTRY_ID,
        taskQueue,
        args: [{}],
        signal: readinessRecordSignal,
        signalArgs: [reports],
      });
    },
  };
}
