// Activities over disaster recovery: readiness's reads of a service's DR posture (each a thin
// wrapper over the DR inspector, src/providers/dr.ts, run on the queue of the region it reads),
// and the readiness registry (through Temporal, on the main queue).
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ComputeTarget } from '../src/domain/types';
import type { DrComputeFacts, FailoverDns, FailoverRecordFacts, RdsInstanceRef, ReadinessReport, ReplicaFacts, ReplicaLagFacts } from '../src/domain/failover';
import type { DrInspector } from '../src/providers/types';
import { READINESS_REGISTRY_ID, readinessQuery, readinessRecordSignal } from '../workflows/messages';
import { call } from './aws';
import type { ActivityDeps } from './deps';

export function failoverActivities(deps: ActivityDeps) {
  const dr = (): DrInspector => {
    if (!deps.dr) throw ApplicationFailure.create({ type: 'WorkerMisconfigured', message: 'this worker has no DR inspector', nonRetryable: true });
    return deps.dr;
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
