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
import { checkAsideName, checkColour, checkCompute, checkDbInstance, checkFailoverDns, checkSetIdentifier, type Mismatch } from '../src/domain/spec-check';
import type { DrInspector, DrOperator } from '../src/providers/types';
import { READINESS_REGISTRY_ID, readinessQuery, readinessRecordSignal } from '../workflows/messages';
import { allowOnly, call } from './aws';
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
  // What a failover touches must be in the worker's config (`services.<svc>.dr.<env>` and the
  // environment's own): refused before any AWS call otherwise. A set-aside copy of a configured
  // instance (`<instance>-pre-<stamp>`) is allowed where a failover makes or deletes one.
  const allowed = (what: string, check: Parameters<typeof allowOnly>[2]) => allowOnly(deps, what, check);
  const compute = (what: string, target: ComputeTarget) => allowed(what, (a) => checkCompute(a, target));
  const countsAllowed = (c: Record<Colour, number> | null): Mismatch[] =>
    c === null ? [] : Object.keys(c).flatMap((k) => checkColour(k as Colour, 'counts'));
  return {
    async readDrCompute(target: ComputeTarget): Promise<DrComputeFacts> {
      compute('reading a DR cluster', target);
      return call(() => dr().compute(target));
    },

    async readReplica(instance: RdsInstanceRef): Promise<ReplicaFacts> {
      allowed('reading a replica', (a) => checkDbInstance(a, instance));
      return call(() => dr().replica(instance));
    },

    /** The newest ReplicaLag datapoint in the `windowSeconds` before `endIso` (the workflow's time, so a retry reads the same window). */
    async readReplicaLag(instance: RdsInstanceRef, windowSeconds: number, endIso: string): Promise<ReplicaLagFacts> {
      allowed('reading ReplicaLag', (a) => checkDbInstance(a, instance));
      return call(() => dr().replicaLag(instance, windowSeconds, new Date(endIso)));
    },

    async readFailoverRecords(dns: FailoverDns, region: string): Promise<FailoverRecordFacts[]> {
      allowed('reading failover records', (a) => checkFailoverDns(a, dns));
      return call(() => dr().failoverRecords(dns, region));
    },

    // ------------------------------------------------------------ failover writes (DrOperator)

    async describeDbInstance(instance: RdsInstanceRef): Promise<InstanceFacts> {
      allowed('describing a database instance', (a) => checkDbInstance(a, instance));
      return call(() => drOps().describeInstance(instance));
    },

    async fenceDatabase(instance: RdsInstanceRef, runId: string): Promise<InstanceFacts> {
      allowed('fencing a database', (a) => checkDbInstance(a, instance));
      return call(() => drOps().fenceDatabase(instance, runId));
    },

    async unfenceDatabase(instance: RdsInstanceRef): Promise<InstanceFacts> {
      allowed('unfencing a database', (a) => checkDbInstance(a, instance));
      return call(() => drOps().unfenceDatabase(instance));
    },

    async promoteReplica(instance: RdsInstanceRef): Promise<InstanceFacts> {
      allowed('promoting a replica', (a) => checkDbInstance(a, instance));
      return call(() => drOps().promoteReplica(instance));
    },

    async createReplica(source: RdsInstanceRef, replica: RdsInstanceRef, like: RdsInstanceRef): Promise<InstanceFacts> {
      allowed('creating a replica', (a) => [...checkDbInstance(a, source, { field: 'source' }), ...checkDbInstance(a, replica, { field: 'replica' }), ...checkDbInstance(a, like, { aside: 'also', field: 'like' })]);
      return call(() => drOps().createReplica(source, replica, like));
    },

    async renameDbInstance(instance: RdsInstanceRef, newId: string): Promise<InstanceFacts> {
      allowed('renaming a database instance', (a) => [...checkDbInstance(a, instance), ...checkAsideName(instance, newId)]);
      return call(() => drOps().renameInstance(instance, newId));
    },

    async deleteDbInstance(instance: RdsInstanceRef, finalSnapshotId: string | null): Promise<void> {
      allowed('deleting a database instance', (a) => checkDbInstance(a, instance, { aside: 'only' }));
      return call(() => drOps().deleteInstance(instance, finalSnapshotId));
    },

    async fenceServices(target: ComputeTarget, runId: string): Promise<Record<Colour, number>> {
      compute('fencing services', target);
      return call(() => drOps().fenceServices(target, runId));
    },

    async unfenceServices(target: ComputeTarget, counts: Record<Colour, number> | null): Promise<Record<Colour, number>> {
      allowed('unfencing services', (a) => [...checkCompute(a, target), ...countsAllowed(counts)]);
      return call(() => drOps().unfenceServices(target, counts));
    },

    async fencedCounts(target: ComputeTarget): Promise<Record<Colour, number> | null> {
      compute('reading fenced counts', target);
      return call(() => drOps().fencedCounts(target));
    },

    async setDnsPrimary(dns: FailoverDns, primarySetIdentifier: string, region: string): Promise<FailoverRecordFacts[]> {
      allowed('switching failover records', (a) => checkSetIdentifier(a, dns, primarySetIdentifier));
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
