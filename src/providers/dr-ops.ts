// The writes of a failover, failback or drill on AWS (DrOperator): fencing a region (its ECS
// services to 0 with their counts recorded on them, its RDS instance read-only through its
// parameter group), promoting the read replica, rebuilding a replica under the name of an
// instance set aside, deleting what was set aside, and moving Route 53 to the other region
// (failover records: the PRIMARY; weighted records: the weight).
//
// Every call converges from what it reads, so a retry after a worker crash finds the work done,
// and reads back what it wrote before it returns. Waits poll every pollMs and sleep under the
// caller's abort signal; the activity heartbeats meanwhile (activities/aws.ts, call()).
//
// moto 5.2.5 (the local stand-in) against real AWS:
//   - PromoteReadReplica changes nothing moto reports: the instance keeps its
//     ReadReplicaSourceDBInstanceIdentifier (real RDS drops it when the promotion completes) and
//     moto reports no StatusInfos (real RDS: a 'read replication' entry on every replica). So a
//     promotion RDS accepted is tagged (PROMOTED_FROM_TAG: the source it left), and an instance
//     that still names that source but reports no replication status reads as promoted. On real
//     RDS the source is gone by the time the promotion completes: the tag changes no answer there.
//   - CreateDBInstanceReadReplica and ModifyDBInstance (rename) silently replace an instance that
//     has the identifier already (real RDS refuses): both check the name is free first. The new
//     replica gets the source's tags (real RDS: none).
//   - Deleting a cross-region replica deletes it but answers DBInstanceNotFound; a final snapshot
//     of a replica is taken (real RDS refuses: InvalidParameterCombination). Deletion is at once.
//   - Instances are 'available', parameter changes 'in-sync' and Route 53 changes INSYNC at once.
//     DescribeDBParameters lists only the parameters that were set (real RDS: all, by pages;
//     Source 'user' asks for the set ones). There are no default.* parameter groups.
//   - ECS tag values are not checked; real ECS allows letters, digits, spaces and _ . : / = + - @
//     only (no comma), hence FENCED_COUNTS_TAG values like `blue=2 green=0`.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeServicesCommand,
  ListTagsForResourceCommand as ListEcsTagsCommand,
  TagResourceCommand,
  UntagResourceCommand,
  type Tag as EcsTag,
} from '@aws-sdk/client-ecs';
import {
  AddTagsToResourceCommand,
  CreateDBInstanceReadReplicaCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  DescribeDBSnapshotsCommand,
  ListTagsForResourceCommand,
  ModifyDBInstanceCommand,
  ModifyDBParameterGroupCommand,
  PromoteReadReplicaCommand,
  RemoveTagsFromResourceCommand,
  type CreateDBInstanceReadReplicaCommandInput,
  type DBInstance,
  type DBSnapshot,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import { recordRole, servingSetIdentifier, type FailoverDns, type FailoverRecordFacts, type InstanceFacts, type RdsInstanceRef } from '../domain/failover';
import { COLOURS, type Colour, type ComputeTarget } from '../domain/types';
import { currentAbortSignal, infrastructureMismatch, orMismatch, send, type AwsClients } from './aws';
import { createAwsDrInspector } from './dr';
import { createEcsCompute } from './ecs';
import { DEFAULT_POLL_MS, DEFAULT_WAIT_TIMEOUT_MS, isInstanceId, isInstanceNotFound, STUCK_STATUSES } from './rds';
import { listRecords } from './route53';
import type { DrOperator } from './types';

/** On a fenced RDS instance and ECS services: the run that fenced them. */
export const FENCED_TAG = 'baton:fenced';
/** On both fenced ECS services: the desired counts before the fence, `blue=<n> green=<n>`. */
export const FENCED_COUNTS_TAG = 'baton:fenced-counts';
/** On a promoted RDS instance: the source RDS accepted its promotion from (see the header). */
export const PROMOTED_FROM_TAG = 'baton:promoted-from';
/** The PostgreSQL setting a fence turns on: new transactions start read-only. */
export const READ_ONLY_PARAMETER = 'default_transaction_read_only';

/** Parameter changes and Route 53 changes take seconds, and a failover's RTO is counting. */
const QUICK_POLL_MS = 2_000;

export interface AwsDrOperatorOptions {
  pollMs?: number;
  waitTimeoutMs?: number;
}

type Observed<T> = { done: T } | { status: string };

export function createAwsDrOperator(aws: AwsClients, opts: AwsDrOperatorOptions = {}): DrOperator {
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const quickPollMs = Math.min(pollMs, QUICK_POLL_MS);
  const waitTimeoutMs = opts.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const compute = createEcsCompute(aws.ecs);
  const inspector = createAwsDrInspector(aws);

  // ---------------------------------------------------------------- waiting

  /** Observes until done, every `every` ms, for at most waitTimeoutMs; the sleep ends early when the caller is cancelled. */
  async function waitUntil<T>(what: string, observe: () => Promise<Observed<T>>, every = pollMs): Promise<T> {
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      const seen = await observe();
      if ('done' in seen) return seen.done;
      if (Date.now() + every > deadline) throw new Error(`waiting for ${what}: still ${seen.status} after ${Math.round(waitTimeoutMs / 1000)} s (safe to repeat)`);
      await sleep(every, undefined, { signal: currentAbortSignal() });
    }
  }

  // ---------------------------------------------------------------- RDS reads

  async function findInstance(ref: RdsInstanceRef): Promise<DBInstance | null> {
    try {
      const out = await send(aws.rds(ref.region), new DescribeDBInstancesCommand({ DBInstanceIdentifier: ref.instanceId }));
      return out.DBInstances?.find((i) => sameId(i.DBInstanceIdentifier, ref.instanceId)) ?? null;
    } catch (err) {
      if (isInstanceNotFound(err)) return null;
      throw err;
    }
  }

  async function requireInstance(ref: RdsInstanceRef, why: string): Promise<DBInstance> {
    const db = await findInstance(ref);
    if (!db) throw infrastructureMismatch(`RDS instance '${ref.instanceId}' not found in ${ref.region}: cannot ${why}`);
    return db;
  }

  async function tagsOf(ref: RdsInstanceRef, db: DBInstance): Promise<Tag[]> {
    const out = await send(aws.rds(ref.region), new ListTagsForResourceCommand({ ResourceName: db.DBInstanceArn }));
    return out.TagList ?? [];
  }

  /** Whether the parameter group turns READ_ONLY_PARAMETER on; a default group never does (nothing can set it there). */
  async function groupReadOnly(region: string, group: string | null): Promise<boolean> {
    if (group === null || isDefaultGroup(group)) return false;
    let marker: string | undefined;
    do {
      const page = await send(aws.rds(region), new DescribeDBParametersCommand({ DBParameterGroupName: group, Source: 'user', Marker: marker }));
      const p = page.Parameters?.find((x) => x.ParameterName === READ_ONLY_PARAMETER);
      if (p) return isOn(p.ParameterValue);
      marker = page.Marker;
    } while (marker);
    return false;
  }

  async function factsOf(ref: RdsInstanceRef, db: DBInstance, tags?: Tag[]): Promise<InstanceFacts> {
    const t = tags ?? (await tagsOf(ref, db));
    return {
      region: ref.region,
      instanceId: (db.DBInstanceIdentifier ?? ref.instanceId).toLowerCase(),
      status: db.DBInstanceStatus ?? null,
      sourceIdentifier: sourceOf(db, t),
      arn: db.DBInstanceArn ?? null,
      readOnly: await groupReadOnly(ref.region, parameterGroupOf(db)),
      fencedBy: tagOf(t, FENCED_TAG) ?? null,
    };
  }

  async function describeInstance(ref: RdsInstanceRef): Promise<InstanceFacts> {
    const db = await findInstance(ref);
    if (!db) return { region: ref.region, instanceId: ref.instanceId.toLowerCase(), status: null, sourceIdentifier: null, arn: null, readOnly: false, fencedBy: null };
    return factsOf(ref, db);
  }

  async function waitAvailable(ref: RdsInstanceRef, what: string): Promise<DBInstance> {
    return waitUntil<DBInstance>(what, async () => {
      const db = await requireInstance(ref, `wait for ${what}`);
      if (db.DBInstanceStatus === 'available') return { done: db };
      assertNotStuck(ref, db);
      return { status: `'${db.DBInstanceStatus}'` };
    });
  }

  // ---------------------------------------------------------------- RDS writes

  async function setTags(ref: RdsInstanceRef, db: DBInstance, tags: Tag[], want: Record<string, string>): Promise<void> {
    const missing = Object.entries(want).filter(([k, v]) => tagOf(tags, k) !== v);
    if (missing.length === 0) return;
    await send(aws.rds(ref.region), new AddTagsToResourceCommand({ ResourceName: db.DBInstanceArn, Tags: missing.map(([Key, Value]) => ({ Key, Value })) }));
  }

  async function removeTag(ref: RdsInstanceRef, db: DBInstance, tags: Tag[], key: string): Promise<void> {
    if (tagOf(tags, key) === undefined) return;
    await send(aws.rds(ref.region), new RemoveTagsFromResourceCommand({ ResourceName: db.DBInstanceArn, TagKeys: [key] }));
  }

  async function setReadOnly(ref: RdsInstanceRef, group: string, on: boolean): Promise<void> {
    if ((await groupReadOnly(ref.region, group)) === on) return;
    await send(
      aws.rds(ref.region),
      new ModifyDBParameterGroupCommand({
        DBParameterGroupName: group,
        Parameters: [{ ParameterName: READ_ONLY_PARAMETER, ParameterValue: on ? '1' : '0', ApplyMethod: 'immediate' }],
      }),
    );
  }

  /** Waits while RDS is still applying the group's change to the instance (a dynamic parameter: seconds). */
  async function waitParametersApplied(ref: RdsInstanceRef): Promise<DBInstance> {
    return waitUntil<DBInstance>(
      `the parameter group of RDS instance '${ref.instanceId}' in ${ref.region} to be applied`,
      async () => {
        const db = await requireInstance(ref, 'read its parameter group');
        const status = db.DBParameterGroups?.[0]?.ParameterApplyStatus;
        return status === 'applying' ? { status: `'${status}'` } : { done: db };
      },
      quickPollMs,
    );
  }

  async function fenceDatabase(ref: RdsInstanceRef, runId: string): Promise<InstanceFacts> {
    const db = await requireInstance(ref, 'make it read-only');
    const where = `RDS instance '${ref.instanceId}' in ${ref.region}`;
    if (!(db.Engine ?? '').startsWith('postgres')) {
      throw infrastructureMismatch(`${where} runs ${db.Engine ?? 'an unknown engine'}: fencing sets ${READ_ONLY_PARAMETER}, which only PostgreSQL has`);
    }
    const group = ownParameterGroup(ref, db);
    const by = tagValue(runId);
    await setReadOnly(ref, group, true);
    await setTags(ref, db, await tagsOf(ref, db), { [FENCED_TAG]: by });
    const facts = await factsOf(ref, await waitParametersApplied(ref));
    if (!facts.readOnly || facts.fencedBy !== by) {
      throw new Error(`${where} reads back ${READ_ONLY_PARAMETER} ${facts.readOnly ? 'on' : 'off'} and ${FENCED_TAG} ${facts.fencedBy ?? 'absent'} after fencing it for ${by}`);
    }
    return facts;
  }

  async function unfenceDatabase(ref: RdsInstanceRef): Promise<InstanceFacts> {
    const db = await requireInstance(ref, 'make it writable');
    const group = parameterGroupOf(db);
    // A default group cannot have been changed: nothing to undo there.
    if (group !== null && !isDefaultGroup(group)) await setReadOnly(ref, group, false);
    await removeTag(ref, db, await tagsOf(ref, db), FENCED_TAG);
    const facts = await factsOf(ref, await waitParametersApplied(ref));
    if (facts.readOnly || facts.fencedBy !== null) {
      throw new Error(`RDS instance '${ref.instanceId}' in ${ref.region} reads back ${READ_ONLY_PARAMETER} ${facts.readOnly ? 'on' : 'off'} and ${FENCED_TAG} ${facts.fencedBy ?? 'absent'} after unfencing it`);
    }
    return facts;
  }

  async function promoteReplica(ref: RdsInstanceRef): Promise<InstanceFacts> {
    const where = `RDS instance '${ref.instanceId}' in ${ref.region}`;
    const first = await requireInstance(ref, 'promote it');
    if (sourceOf(first, await tagsOf(ref, first)) === null) return settled(ref, first);
    // RDS promotes only an available replica; one already promoting (an earlier attempt) gets there too.
    const ready = await waitAvailable(ref, `${where} to be available to promote it`);
    const tags = await tagsOf(ref, ready);
    const source = sourceOf(ready, tags);
    if (source === null) return factsOf(ref, ready, tags);
    try {
      await send(aws.rds(ref.region), new PromoteReadReplicaCommand({ DBInstanceIdentifier: ready.DBInstanceIdentifier }));
      await setTags(ref, ready, tags, { [PROMOTED_FROM_TAG]: source });
    } catch (err) {
      // Refused while a promotion is under way (a concurrent attempt): the wait below sees it through.
      if ((err as Error).name !== 'InvalidDBInstanceStateFault') throw err;
      const now = await requireInstance(ref, 'promote it');
      if (now.DBInstanceStatus === 'available' && sourceOf(now, await tagsOf(ref, now)) !== null) throw err;
    }
    return waitUntil<InstanceFacts>(`${where} to be promoted and available`, async () => {
      const db = await requireInstance(ref, 'wait for its promotion');
      const now = await tagsOf(ref, db);
      const still = sourceOf(db, now);
      if (db.DBInstanceStatus === 'available' && still === null) return { done: await factsOf(ref, db, now) };
      assertNotStuck(ref, db);
      return { status: `'${db.DBInstanceStatus}'${still ? `, a replica of ${still}` : ''}` };
    });
  }

  /** An instance that is no replica, once it is in a status it stays in (a promotion finishing, say). */
  async function settled(ref: RdsInstanceRef, db: DBInstance): Promise<InstanceFacts> {
    const status = db.DBInstanceStatus ?? '';
    if (status === 'available' || STUCK_STATUSES.has(status)) return factsOf(ref, db);
    return factsOf(ref, await waitAvailable(ref, `RDS instance '${ref.instanceId}' in ${ref.region} to be available`));
  }

  async function createReplica(source: RdsInstanceRef, replica: RdsInstanceRef, like: RdsInstanceRef): Promise<InstanceFacts> {
    if (like.region !== replica.region) throw new RangeError(`the instance a replica is made like must be in its region (${replica.region}), not ${like.region}`);
    const where = `RDS instance '${replica.instanceId}' in ${replica.region}`;
    const of = `${source.instanceId} in ${source.region}`;
    const existing = await findInstance(replica);
    if (existing) {
      const replicates = sourceOf(existing, await tagsOf(replica, existing));
      if (replicates === null || !names(replicates, source, replica.region)) {
        throw infrastructureMismatch(`${where} exists and is ${replicates === null ? 'no replica' : `a replica of ${replicates}`}, not a replica of ${of}: set it aside (rename it) first`);
      }
    } else {
      const src = await requireInstance(source, `create a replica of it in ${replica.region}`);
      const template = await requireInstance(like, `create ${replica.instanceId} like it`);
      const crossRegion = source.region !== replica.region;
      await orMismatch(
        async () => {
          try {
            await send(aws.rds(replica.region), new CreateDBInstanceReadReplicaCommand(replicaInput(replica, src, template, crossRegion)));
          } catch (err) {
            if ((err as Error).name !== 'DBInstanceAlreadyExistsFault') throw err; // a concurrent attempt: checked below
          }
        },
        { DBParameterGroupNotFoundFault: `${where}: the parameter group of ${like.instanceId} is not found in ${replica.region}` },
      );
    }
    const made = await waitAvailable(replica, `${where} (a replica of ${of}) to be available`);
    const facts = await factsOf(replica, made);
    if (facts.sourceIdentifier === null || !names(facts.sourceIdentifier, source, replica.region)) {
      throw infrastructureMismatch(`${where} is available but replicates ${facts.sourceIdentifier ?? 'nothing'}, not ${of}`);
    }
    return facts;
  }

  async function renameInstance(ref: RdsInstanceRef, newId: string): Promise<InstanceFacts> {
    const to = newId.toLowerCase();
    const from = ref.instanceId.toLowerCase();
    if (!isInstanceId(to)) {
      throw new RangeError(`'${newId}' is not an RDS instance identifier (a letter, then letters, digits and single hyphens, at most 63)`);
    }
    if (to === from) throw new RangeError(`RDS instance '${ref.instanceId}' cannot be renamed to its own name`);
    const target = { region: ref.region, instanceId: to };
    const what = `RDS instance '${from}' in ${ref.region} to be renamed '${to}'`;
    const [old, taken] = await Promise.all([findInstance(ref), findInstance(target)]);
    if (old && taken) throw infrastructureMismatch(`cannot rename RDS instance '${from}' to '${to}' in ${ref.region}: an instance with that name exists`);
    if (!old && !taken) throw infrastructureMismatch(`RDS instance '${from}' not found in ${ref.region}, nor '${to}': nothing to rename`);
    if (old) {
      // RDS renames only an available instance.
      const ready = await waitUntil<DBInstance | null>(`${what} (available first)`, async () => {
        const db = await findInstance(ref);
        if (!db || db.DBInstanceStatus === 'available') return { done: db };
        assertNotStuck(ref, db);
        return { status: `'${db.DBInstanceStatus}'` };
      });
      if (ready) {
        await send(aws.rds(ref.region), new ModifyDBInstanceCommand({ DBInstanceIdentifier: from, NewDBInstanceIdentifier: to, ApplyImmediately: true }));
      }
    }
    const renamed = await waitUntil<DBInstance>(what, async () => {
      const [before, after] = await Promise.all([findInstance(ref), findInstance(target)]);
      if (!before && after?.DBInstanceStatus === 'available') return { done: after };
      if (after) assertNotStuck(target, after);
      return { status: after ? `'${after.DBInstanceStatus}' as '${to}'` : `'${before?.DBInstanceStatus ?? 'gone'}' as '${from}'` };
    });
    return factsOf(target, renamed);
  }

  async function deleteInstance(ref: RdsInstanceRef, finalSnapshotId: string | null): Promise<void> {
    const rds = aws.rds(ref.region);
    const where = `RDS instance '${ref.instanceId}' in ${ref.region}`;
    const db = await findInstance(ref);
    if (!db) return;
    if (db.DBInstanceStatus !== 'deleting') {
      if (finalSnapshotId !== null) {
        // While RDS takes a final snapshot the instance reads 'deleting': one that exists beside a live instance is someone else's.
        const snapshot = await findSnapshot(rds, finalSnapshotId);
        if (snapshot) {
          throw infrastructureMismatch(`cannot delete ${where} with final snapshot '${finalSnapshotId}': a snapshot of that name (of '${snapshot.DBInstanceIdentifier}') exists`);
        }
      }
      const input = finalSnapshotId === null ? { SkipFinalSnapshot: true } : { FinalDBSnapshotIdentifier: finalSnapshotId };
      try {
        await send(rds, new DeleteDBInstanceCommand({ DBInstanceIdentifier: db.DBInstanceIdentifier, ...input }));
      } catch (err) {
        const e = err as Error;
        if (isInstanceNotFound(e)) return;
        // A read replica takes no final snapshot; deletion protection refuses any delete.
        if (e.name === 'InvalidParameterCombination' || e.name === 'InvalidParameterCombinationException') throw infrastructureMismatch(`RDS refused to delete ${where}: ${e.message}`);
        if (e.name === 'DBSnapshotAlreadyExistsFault') throw infrastructureMismatch(`cannot delete ${where} with final snapshot '${finalSnapshotId}': ${e.message}`);
        if (e.name !== 'InvalidDBInstanceStateFault' || (await findInstance(ref))?.DBInstanceStatus !== 'deleting') throw err;
      }
    }
    await waitUntil<true>(`${where} to be deleted`, async () => {
      const left = await findInstance(ref);
      if (!left) return { done: true };
      if (left.DBInstanceStatus !== 'deleting') throw new Error(`${where} is ${left.DBInstanceStatus} after its deletion was asked for`);
      return { status: `'deleting'` };
    });
  }

  // ---------------------------------------------------------------- ECS

  interface ServiceRead {
    name: string;
    arn: string;
    desiredCount: number;
    tags: EcsTag[];
  }

  async function readServices(target: ComputeTarget): Promise<Record<Colour, ServiceRead>> {
    const ecs = aws.ecs(target.region);
    const out = await orMismatch(() => send(ecs, new DescribeServicesCommand({ cluster: target.cluster, services: [target.services.blue, target.services.green] })), {
      ClusterNotFoundException: `ECS cluster '${target.cluster}' not found in ${target.region}`,
    });
    const read = async (colour: Colour): Promise<ServiceRead> => {
      const name = target.services[colour];
      const s = out.services?.find((x) => x.serviceName === name && x.status === 'ACTIVE');
      if (!s?.serviceArn) throw infrastructureMismatch(`ECS service '${name}' not found (or not active) in cluster '${target.cluster}' in ${target.region}`);
      // Only the long ARN format (service/<cluster>/<name>) can carry tags.
      if (!/:service\/[^/]+\/[^/]+$/.test(s.serviceArn)) {
        throw infrastructureMismatch(`ECS service '${name}' has the old ARN format (${s.serviceArn}), which cannot be tagged: opt in to the long ARN format and recreate the service`);
      }
      const tags = await send(ecs, new ListEcsTagsCommand({ resourceArn: s.serviceArn }));
      return { name, arn: s.serviceArn, desiredCount: s.desiredCount ?? 0, tags: tags.tags ?? [] };
    };
    const [blue, green] = await Promise.all([read('blue'), read('green')]);
    return { blue, green };
  }

  /** The counts the services carry (both the same; a fence stopped between its two tags left them on one). */
  function recordedCounts(target: ComputeTarget, read: Record<Colour, ServiceRead>): Record<Colour, number> | null {
    const values = [...new Set(COLOURS.flatMap((c) => ecsTagOf(read[c].tags, FENCED_COUNTS_TAG) ?? []))];
    if (values.length === 0) return null;
    if (values.length > 1) throw infrastructureMismatch(`ECS services of '${target.cluster}' in ${target.region} carry different ${FENCED_COUNTS_TAG}: ${values.join(' and ')}`);
    const counts = parseCounts(values[0]);
    if (!counts) throw infrastructureMismatch(`ECS services of '${target.cluster}' in ${target.region} carry ${FENCED_COUNTS_TAG} '${values[0]}', not 'blue=<n> green=<n>'`);
    return counts;
  }

  async function fenceServices(target: ComputeTarget, runId: string): Promise<Record<Colour, number>> {
    const ecs = aws.ecs(target.region);
    const read = await readServices(target);
    const counts = recordedCounts(target, read) ?? { blue: read.blue.desiredCount, green: read.green.desiredCount };
    const value = formatCounts(counts);
    // The record is on both services before either is scaled.
    for (const c of COLOURS) {
      if (ecsTagOf(read[c].tags, FENCED_COUNTS_TAG) === value) continue;
      await send(ecs, new TagResourceCommand({ resourceArn: read[c].arn, tags: [{ key: FENCED_COUNTS_TAG, value }, { key: FENCED_TAG, value: tagValue(runId) }] }));
    }
    for (const c of COLOURS) if (read[c].desiredCount !== 0) await compute.scale(target, c, 0);
    const after = await readServices(target);
    const wrong = COLOURS.filter((c) => after[c].desiredCount !== 0 || ecsTagOf(after[c].tags, FENCED_COUNTS_TAG) !== value);
    if (wrong.length) throw new Error(`ECS services ${wrong.map((c) => `'${after[c].name}' (${after[c].desiredCount} desired, ${FENCED_COUNTS_TAG} ${ecsTagOf(after[c].tags, FENCED_COUNTS_TAG) ?? 'absent'})`).join(', ')} read back wrong after fencing to 0 with ${value}`);
    return counts;
  }

  async function unfenceServices(target: ComputeTarget, counts: Record<Colour, number> | null): Promise<Record<Colour, number>> {
    if (counts !== null && !COLOURS.every((c) => Number.isInteger(counts[c]) && counts[c] >= 0)) {
      throw new RangeError(`desired counts must be whole numbers (got blue ${counts.blue}, green ${counts.green})`);
    }
    const ecs = aws.ecs(target.region);
    const read = await readServices(target);
    const want = counts ?? recordedCounts(target, read);
    if (!want) return { blue: read.blue.desiredCount, green: read.green.desiredCount };
    // Scaled before the record goes, so a repeat still knows the counts.
    for (const c of COLOURS) if (read[c].desiredCount !== want[c]) await compute.scale(target, c, want[c]);
    for (const c of COLOURS) {
      const keys = [FENCED_COUNTS_TAG, FENCED_TAG].filter((k) => ecsTagOf(read[c].tags, k) !== undefined);
      if (keys.length) await send(ecs, new UntagResourceCommand({ resourceArn: read[c].arn, tagKeys: keys }));
    }
    const after = await readServices(target);
    const wrong = COLOURS.filter((c) => after[c].desiredCount !== want[c] || ecsTagOf(after[c].tags, FENCED_COUNTS_TAG) !== undefined);
    if (wrong.length) {
      throw new Error(`ECS services ${wrong.map((c) => `'${after[c].name}' (${after[c].desiredCount} desired, want ${want[c]})`).join(', ')} read back wrong after unfencing`);
    }
    return want;
  }

  async function fencedCounts(target: ComputeTarget): Promise<Record<Colour, number> | null> {
    return recordedCounts(target, await readServices(target));
  }

  // ---------------------------------------------------------------- Route 53

  /**
   * Makes `primarySetIdentifier` the record Route 53 answers with. The records say how (no config
   * does): two failover records swap PRIMARY and SECONDARY; two weighted records move the weight,
   * the serving record getting the larger of the two weights read (100 when both are 0) and the
   * other 0, so a switch and a switch back leave the weights as found (100/0, then 0/100, then
   * 100/0). Route 53 still answers with a record weighted 0 when the health checks of every
   * record above 0 fail, as it does with a SECONDARY. Both records change in one batch, each as
   * read (values, TTL, alias, health check) but for its role or weight; records that already
   * route so are not written. Any other pair (a simple, latency, geolocation... record, or one of
   * each kind) is refused before anything is written.
   */
  async function setDnsPrimary(dns: FailoverDns, primarySetIdentifier: string, region: string): Promise<FailoverRecordFacts[]> {
    const ids = [dns.primarySetIdentifier, dns.secondarySetIdentifier];
    if (!ids.includes(primarySetIdentifier)) throw new RangeError(`'${primarySetIdentifier}' is neither of ${dns.recordName}'s set identifiers (${ids.join(', ')})`);
    const route53 = aws.route53(region);
    const found = await listRecords(route53, dns.hostedZoneId, dns.recordName, dns.recordType);
    const records = ids.map((id): ResourceRecordSet => {
      const r = found.find((x) => x.SetIdentifier === id);
      const what = `Route 53 ${dns.recordType} record '${dns.recordName}' with set identifier '${id}'`;
      if (!r) throw infrastructureMismatch(`${what} not found in hosted zone '${dns.hostedZoneId}'`);
      if (!r.Failover && r.Weight === undefined) {
        throw infrastructureMismatch(`${what} is ${routingWords(r)}: a failover moves DNS between two failover records or two weighted records`);
      }
      return r;
    });
    const [serving, other] = records[0].SetIdentifier === primarySetIdentifier ? records : [records[1], records[0]];
    const weighted = !serving.Failover;
    if (weighted !== !other.Failover) {
      throw infrastructureMismatch(
        `Route 53 records '${dns.recordName}' in hosted zone '${dns.hostedZoneId}': '${records[0].SetIdentifier}' is ${routingWords(records[0])} and '${records[1].SetIdentifier}' ${routingWords(records[1])}; both must be failover records or both weighted`,
      );
    }
    const role = (r: ResourceRecordSet) => (weighted ? `weight ${r.Weight}` : r.Failover);
    const servesNow = weighted ? serving.Weight! > 0 && other.Weight === 0 : serving.Failover === 'PRIMARY' && other.Failover === 'SECONDARY';
    const weight = Math.max(serving.Weight ?? 0, other.Weight ?? 0) || 100;
    const wanted: ResourceRecordSet[] = servesNow
      ? [serving, other]
      : weighted
        ? [{ ...serving, Weight: weight }, { ...other, Weight: 0 }]
        : [{ ...serving, Failover: 'PRIMARY' }, { ...other, Failover: 'SECONDARY' }];
    if (!servesNow) {
      const out = await send(
        route53,
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: dns.hostedZoneId,
          ChangeBatch: {
            Comment: `baton: '${primarySetIdentifier}' ${weighted ? `weight ${weight}, '${other.SetIdentifier}' weight 0` : 'PRIMARY'} for ${dns.recordName}`,
            Changes: wanted.map((r) => ({ Action: 'UPSERT', ResourceRecordSet: r })),
          },
        }),
      );
      const changeId = out.ChangeInfo?.Id;
      if (changeId) {
        await waitUntil<true>(
          `Route 53 change ${changeId} (${dns.recordName}) to be INSYNC`,
          async () => {
            const change = await send(route53, new GetChangeCommand({ Id: changeId }));
            return change.ChangeInfo?.Status === 'INSYNC' ? { done: true } : { status: `'${change.ChangeInfo?.Status}'` };
          },
          quickPollMs,
        );
      }
    }
    const now = await inspector.failoverRecords(dns, region);
    const wrong = wanted.filter((w) => {
      const r = now.find((x) => x.setIdentifier === w.SetIdentifier && x.type === dns.recordType);
      return !r || r.failover !== (w.Failover ?? null) || (r.weight ?? null) !== (w.Weight ?? null);
    });
    if (wrong.length || servingSetIdentifier(dns, now) !== primarySetIdentifier) {
      throw new Error(
        `Route 53 records of ${dns.recordName} read back ${now.map((r) => `'${r.setIdentifier}' ${recordRole(r)}`).join(', ') || 'nothing'} ` +
          `after making '${primarySetIdentifier}' serve (wanted ${wanted.map((w) => `'${w.SetIdentifier}' ${role(w)}`).join(', ')})`,
      );
    }
    return now;
  }

  return {
    describeInstance,
    fenceDatabase,
    unfenceDatabase,
    promoteReplica,
    createReplica,
    renameInstance,
    deleteInstance,
    fenceServices,
    unfenceServices,
    fencedCounts,
    setDnsPrimary,
  };
}

// ---------------------------------------------------------------- helpers

/** What routing a Route 53 record uses, in words, for a refusal. */
function routingWords(r: ResourceRecordSet): string {
  if (r.Failover) return `a failover record (${r.Failover})`;
  if (r.Weight !== undefined) return `a weighted record (weight ${r.Weight})`;
  if (r.Region) return `a latency record (region ${r.Region})`;
  if (r.GeoLocation) return 'a geolocation record';
  if (r.GeoProximityLocation) return 'a geoproximity record';
  if (r.CidrRoutingConfig) return 'an IP-based (CIDR) record';
  if (r.MultiValueAnswer !== undefined) return 'a multivalue answer record';
  return 'a simple record (no routing policy)';
}

function sameId(a: string | undefined, b: string): boolean {
  return (a ?? '').toLowerCase() === b.toLowerCase();
}

function tagOf(tags: Tag[], key: string): string | undefined {
  return tags.find((t) => t.Key === key)?.Value;
}

function ecsTagOf(tags: EcsTag[], key: string): string | undefined {
  return tags.find((t) => t.key === key)?.value;
}

/** RDS and ECS tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters. */
function tagValue(text: string): string {
  return text.replace(/[^\p{L}\p{N}\p{Z}_.:/=+\-@]/gu, '_').slice(0, 256);
}

function formatCounts(c: Record<Colour, number>): string {
  return `blue=${c.blue} green=${c.green}`;
}

function parseCounts(value: string): Record<Colour, number> | null {
  const m = /^blue=(\d+)[\s,/]+green=(\d+)$/.exec(value.trim());
  return m ? { blue: Number(m[1]), green: Number(m[2]) } : null;
}

/** PostgreSQL's spellings of a true boolean. */
function isOn(value: string | undefined): boolean {
  return ['1', 'on', 'true', 'yes'].includes((value ?? '').trim().toLowerCase());
}

function parameterGroupOf(db: DBInstance): string | null {
  return db.DBParameterGroups?.[0]?.DBParameterGroupName ?? null;
}

function isDefaultGroup(group: string): boolean {
  return group.startsWith('default.');
}

/** The instance's parameter group, refused when it is a default one (shared by every instance of the engine version; RDS refuses changes to it). */
function ownParameterGroup(ref: RdsInstanceRef, db: DBInstance): string {
  const group = parameterGroupOf(db);
  const where = `RDS instance '${ref.instanceId}' in ${ref.region}`;
  if (group === null) throw infrastructureMismatch(`${where} reports no DB parameter group: cannot make it read-only`);
  if (isDefaultGroup(group)) {
    throw infrastructureMismatch(
      `${where} uses the default parameter group '${group}', which is shared and cannot be changed: ` +
        `create its own DB parameter group of the same family, set it on the instance (ModifyDBInstance, then a reboot), and fence again`,
    );
  }
  return group;
}

/**
 * What the instance replicates, or null. RDS's ReadReplicaSourceDBInstanceIdentifier, unless it
 * names the source a promotion left (PROMOTED_FROM_TAG) and RDS reports no replication status:
 * moto keeps the field after a promotion (see the header).
 */
function sourceOf(db: DBInstance, tags: Tag[]): string | null {
  const source = db.ReadReplicaSourceDBInstanceIdentifier ?? null;
  if (source === null) return null;
  const replicating = (db.StatusInfos ?? []).some((s) => s.StatusType === 'read replication');
  return !replicating && tagOf(tags, PROMOTED_FROM_TAG) === source ? null : source;
}

/** Whether a source identifier names `ref`: by id for a replica in the same region, by ARN (`arn:aws:rds:<region>:<account>:db:<id>`) across regions. */
function names(sourceIdentifier: string, ref: RdsInstanceRef, replicaRegion: string): boolean {
  const arn = /^arn:[^:]+:rds:([^:]+):[^:]*:db:(.+)$/.exec(sourceIdentifier);
  if (arn) return arn[1] === ref.region && sameId(arn[2], ref.instanceId);
  return ref.region === replicaRegion && sameId(sourceIdentifier, ref.instanceId);
}

function assertNotStuck(ref: RdsInstanceRef, db: DBInstance): void {
  const status = db.DBInstanceStatus ?? '';
  if (STUCK_STATUSES.has(status)) throw infrastructureMismatch(`RDS instance '${db.DBInstanceIdentifier ?? ref.instanceId}' in ${ref.region} is ${status}: it will not become available by itself`);
}

async function findSnapshot(rds: RDSClient, id: string): Promise<DBSnapshot | null> {
  try {
    const out = await send(rds, new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
    return out.DBSnapshots?.find((s) => sameId(s.DBSnapshotIdentifier, id)) ?? null;
  } catch (err) {
    if ((err as Error).name === 'DBSnapshotNotFoundFault') return null;
    throw err;
  }
}

/**
 * A read replica like `template` (the instance it replaces, in its region): its class, its own
 * parameter and option groups, and its network. Across regions RDS wants the source's ARN (from
 * which the SDK presigns the request where RDS needs one) and, for an encrypted source, a key in
 * the replica's region (the template's).
 */
function replicaInput(replica: RdsInstanceRef, source: DBInstance, template: DBInstance, crossRegion: boolean): CreateDBInstanceReadReplicaCommandInput {
  const group = parameterGroupOf(template);
  const optionGroup = template.OptionGroupMemberships?.[0]?.OptionGroupName;
  const securityGroups = (template.VpcSecurityGroups ?? []).flatMap((g) => g.VpcSecurityGroupId ?? []);
  let kmsKeyId: string | undefined;
  if (crossRegion && source.StorageEncrypted) {
    kmsKeyId = template.KmsKeyId;
    if (!kmsKeyId) {
      throw infrastructureMismatch(`RDS instance '${source.DBInstanceIdentifier}' is encrypted, and '${template.DBInstanceIdentifier}' has no KMS key in ${replica.region} for its cross-region replica`);
    }
  }
  return {
    DBInstanceIdentifier: replica.instanceId.toLowerCase(),
    SourceDBInstanceIdentifier: crossRegion ? source.DBInstanceArn : source.DBInstanceIdentifier,
    KmsKeyId: kmsKeyId,
    DBInstanceClass: template.DBInstanceClass,
    // The engine's default groups are what RDS picks anyway; naming them is refused by moto.
    DBParameterGroupName: group && !isDefaultGroup(group) ? group : undefined,
    OptionGroupName: optionGroup && !optionGroup.startsWith('default:') ? optionGroup : undefined,
    DBSubnetGroupName: template.DBSubnetGroup?.DBSubnetGroupName,
    VpcSecurityGroupIds: securityGroups.length > 0 ? securityGroups : undefined,
    MultiAZ: template.MultiAZ,
    StorageType: template.StorageType,
    PubliclyAccessible: template.PubliclyAccessible,
    // It takes the template's place (and, promoted, its role).
    DeletionProtection: template.DeletionProtection,
  };
}
