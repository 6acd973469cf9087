// The feeder's ReplicaLag, as RDS would publish it: for every read replica it finds, about a second,
// 0 once the source is fenced, frozen while the source's region is out; nothing for a promoted
// instance. No servers: the instances are what DescribeDBInstances would show.
import { describe, expect, it } from 'vitest';
import type { PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { FaultStore } from '../../src/sandbox/faults';
import {
  FENCED_TAG,
  PROMOTED_FROM_TAG,
  readReplicas,
  SANDBOX_REPLICA_LAG_SECONDS,
  startFeeder,
  type RdsInstanceSeen,
  type ReplicaWatch,
} from '../../src/sandbox/feeder';

const ACCOUNT = '123456789012';
const arn = (region: string, id: string) => `arn:aws:rds:${region}:${ACCOUNT}:db:${id}`;

/** An instance as moto shows it; a cross-region replica names its source by ARN and is listed by ARN. */
function instance(region: string, instanceId: string, more: Partial<RdsInstanceSeen> = {}): RdsInstanceSeen {
  return { region, instanceId, arn: arn(region, instanceId), sourceIdentifier: null, replicaIdentifiers: [], replicating: false, tags: {}, ...more };
}

/** The sandbox as seeded: api-prod-db in us-east-1, its replica in us-west-2. */
function seeded(primaryTags: Record<string, string> = {}): RdsInstanceSeen[] {
  return [
    instance('us-east-1', 'api-prod-db', { replicaIdentifiers: [arn('us-west-2', 'api-prod-db-replica')], tags: primaryTags }),
    instance('us-east-1', 'billing-prod'),
    instance('us-west-2', 'api-prod-db-replica', { sourceIdentifier: arn('us-east-1', 'api-prod-db') }),
  ];
}

interface Run {
  /** Runs one tick and returns the ReplicaLag datapoints it published, as `<region>/<id>` → seconds. */
  tick(): Promise<Record<string, number>>;
  lines: string[];
  stop(): Promise<void>;
}

/** A feeder over a world the test changes between ticks; resolves once the feeder's own first tick is done. */
async function feederOver(world: { instances: RdsInstanceSeen[]; out: Set<string>; failing?: Set<string> }): Promise<Run> {
  let puts: Array<{ region: string; input: PutMetricDataCommandInput }> = [];
  const lines: string[] = [];
  const watch: ReplicaWatch = {
    regions: ['us-east-1', 'us-west-2'],
    describe: async (region) => {
      if (world.failing?.has(region)) throw new Error(`moto in ${region} is down`);
      return world.instances.filter((i) => i.region === region);
    },
    isOut: (region) => world.out.has(region),
  };
  const feeder = startFeeder({
    targets: [],
    replicas: watch,
    routerFor: () => { throw new Error('no traffic to read'); },
    put: async (region, input) => { puts.push({ region, input }); },
    faults: new FaultStore({ known: [] }),
    intervalMs: 3_600_000, // only the first tick runs on its own; the test ticks
    log: (l) => lines.push(l),
  });
  // The fakes answer at once: the first tick (which starts with the feeder) is over well within this.
  await new Promise((r) => setTimeout(r, 50));
  return {
    lines,
    async tick() {
      puts = [];
      await feeder.tick();
      return Object.fromEntries(puts.flatMap(({ region, input }) => (input.MetricData ?? []).map((d) => [`${region}/${d.Dimensions?.[0]?.Value}`, d.Value!])));
    },
    stop: () => feeder.stop(),
  };
}

describe('the sandbox feeder and read replicas', () => {
  it('publishes each replica\'s ReplicaLag in its region, as RDS does', async () => {
    const puts: Array<{ region: string; input: PutMetricDataCommandInput }> = [];
    const feeder = startFeeder({
      targets: [],
      replicas: { regions: ['us-east-1', 'us-west-2'], describe: async (region) => seeded().filter((i) => i.region === region) },
      routerFor: () => { throw new Error('no traffic to read'); },
      put: async (region, input) => { puts.push({ region, input }); },
      faults: new FaultStore({ known: [] }),
      intervalMs: 60_000,
      log: () => undefined,
    });
    await feeder.stop();
    expect(puts).toEqual([{
      region: 'us-west-2',
      input: {
        Namespace: 'AWS/RDS',
        MetricData: [{ MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'api-prod-db-replica' }], Timestamp: expect.any(Date), Value: SANDBOX_REPLICA_LAG_SECONDS, Unit: 'Seconds' }],
      },
    }]);
  });

  it('publishes 0 once the source is fenced, and the usual lag again once it is not', async () => {
    const world = { instances: seeded(), out: new Set<string>() };
    const run = await feederOver(world);
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 1 });
    world.instances = seeded({ [FENCED_TAG]: 'failover:api:prod:1' });
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 0 });
    world.instances = seeded();
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 1 });
    await run.stop();
  });

  it('keeps publishing the last lag while the source\'s region is out, whatever the source shows', async () => {
    const world = { instances: seeded(), out: new Set<string>() };
    const run = await feederOver(world);
    await run.tick();
    world.out.add('us-east-1');
    // Fenced in moto (the feeder reads moto directly) but not replicated: the lag stays.
    world.instances = seeded({ [FENCED_TAG]: 'failover:api:prod:1' });
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 1 });
    world.out.clear();
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 0 });
    // Fenced and caught up before the region went out: it stays 0.
    world.out.add('us-east-1');
    world.instances = seeded();
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 0 });
    await run.stop();
  });

  it('keeps publishing while the replica\'s own region is out (the feeder talks to moto directly)', async () => {
    const world = { instances: seeded(), out: new Set(['us-west-2']) };
    const run = await feederOver(world);
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 1 });
    await run.stop();
  });

  it('finds a replica a failback creates named like the old primary, and stops publishing for the promoted one', async () => {
    // After a failover: the replica was promoted (moto keeps its source; the tag says which it left).
    const promoted = instance('us-west-2', 'api-prod-db-replica', { sourceIdentifier: arn('us-east-1', 'api-prod-db'), tags: { [PROMOTED_FROM_TAG]: arn('us-east-1', 'api-prod-db') } });
    const world = { instances: [...seeded({ [FENCED_TAG]: 'x' }).filter((i) => i.region === 'us-east-1'), promoted], out: new Set<string>() };
    const run = await feederOver(world);
    expect(await run.tick()).toEqual({});
    // The failback sets the old primary aside and rebuilds `api-prod-db` as a replica of the DR database.
    world.instances = [
      instance('us-east-1', 'api-prod-db-old', { replicaIdentifiers: [arn('us-west-2', 'api-prod-db-replica')], tags: { [FENCED_TAG]: 'x' } }),
      instance('us-east-1', 'api-prod-db', { sourceIdentifier: arn('us-west-2', 'api-prod-db-replica') }),
      { ...promoted, tags: {}, replicaIdentifiers: [arn('us-east-1', 'api-prod-db')] },
    ];
    // (Its tag gone or not: it names `api-prod-db` as its source, which no longer lists it.)
    // api-prod-db-replica still names `api-prod-db` as its source, which no longer lists it: not a replica.
    expect(await run.tick()).toEqual({ 'us-east-1/api-prod-db': 1 });
    await run.stop();
  });

  it('reports a region it cannot describe once, and feeds the replicas it could find', async () => {
    const world = { instances: seeded(), out: new Set<string>(), failing: new Set(['us-east-1']) };
    const run = await feederOver(world);
    // The source's region unread: the replica is trusted to be one.
    expect(await run.tick()).toEqual({ 'us-west-2/api-prod-db-replica': 1 });
    await run.tick();
    world.failing.clear();
    await run.tick();
    expect(run.lines).toEqual([expect.stringContaining('RDS in us-east-1: cannot feed metrics (moto in us-east-1 is down)'), 'RDS in us-east-1: writing metrics again']);
    await run.stop();
  });
});

describe('readReplicas', () => {
  it('counts a replica that RDS says replicates even when a tag says promoted (a promotion under way), and a new replica carrying its source\'s tag (moto copies tags)', () => {
    const source = arn('us-east-1', 'a');
    const instances = [
      instance('us-east-1', 'a', { replicaIdentifiers: [arn('us-west-2', 'b'), arn('us-west-2', 'c')] }),
      instance('us-west-2', 'b', { sourceIdentifier: source, replicating: true, tags: { [PROMOTED_FROM_TAG]: source } }),
      instance('us-west-2', 'c', { sourceIdentifier: source, tags: { [PROMOTED_FROM_TAG]: arn('us-east-1', 'older') } }),
    ];
    expect(readReplicas(instances, ['us-east-1', 'us-west-2']).map((r) => r.replica.instanceId)).toEqual(['b', 'c']);
  });

  it('counts a same-region replica named by id, and not an instance whose source is gone', () => {
    const same = [
      instance('us-east-1', 'a', { replicaIdentifiers: ['b'] }),
      instance('us-east-1', 'b', { sourceIdentifier: 'a' }),
      instance('us-east-1', 'c', { sourceIdentifier: 'deleted' }),
    ];
    expect(readReplicas(same, ['us-east-1'])).toEqual([{ replica: { region: 'us-east-1', instanceId: 'b' }, source: { region: 'us-east-1', instanceId: 'a' }, sourceFenced: false }]);
  });
});
