// The DR operator (src/providers/dr-ops.ts) against moto: a PostgreSQL primary with its own
// parameter group in us-east-1 and a cross-region read replica in us-west-2, an ECS cluster with
// a blue and a green service, and a hosted zone with two failover CNAME records (and pairs of
// weighted ones, and pairs Baton refuses to move).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CreateDBInstanceCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBParameterGroupCommand,
  CreateDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  DescribeDBSnapshotsCommand,
  ListTagsForResourceCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { CreateClusterCommand, CreateServiceCommand, DescribeServicesCommand, ListTagsForResourceCommand as ListEcsTagsCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { ChangeResourceRecordSetsCommand, CreateHealthCheckCommand, CreateHostedZoneCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { startMoto } from '../harness/servers';
import { motoClients, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { createAwsDrOperator, FENCED_COUNTS_TAG, PROMOTED_FROM_TAG, READ_ONLY_PARAMETER } from '../../src/providers/dr-ops';
import { createProviders } from '../../src/providers/factory';
import { failoverActivities } from '../../activities/failover';
import { ErrorType } from '../../src/domain/errors';
import type { AwsClients } from '../../src/providers/aws';
import type { DrOperator } from '../../src/providers/types';
import type { FailoverDns, RdsInstanceRef } from '../../src/domain/failover';
import type { ComputeTarget } from '../../src/domain/types';

const PRIMARY = 'us-east-1';
const DR = 'us-west-2';
const GROUP = 'app-postgres16';

describe('the AWS DR operator on moto', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let ops: DrOperator;

  beforeAll(async () => {
    moto = await startMoto();
    aws = motoClients(moto);
    ops = createAwsDrOperator(aws, { pollMs: 10, waitTimeoutMs: 5_000 });
    for (const region of [PRIMARY, DR]) {
      await aws.rds(region).send(new CreateDBParameterGroupCommand({ DBParameterGroupName: GROUP, DBParameterGroupFamily: 'postgres16', Description: 'the app databases' }));
    }
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** A PostgreSQL instance; on GROUP unless `defaultGroup`. */
  async function createPrimary(instanceId: string, opts: { defaultGroup?: boolean; deletionProtection?: boolean } = {}): Promise<RdsInstanceRef> {
    await aws.rds(PRIMARY).send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: instanceId,
        DBInstanceClass: 'db.t3.small',
        Engine: 'postgres',
        EngineVersion: '16.3',
        MasterUsername: 'baton',
        MasterUserPassword: 'not-a-secret',
        AllocatedStorage: 20,
        BackupRetentionPeriod: 7,
        DBParameterGroupName: opts.defaultGroup ? undefined : GROUP,
        DeletionProtection: opts.deletionProtection,
      }),
    );
    return { region: PRIMARY, instanceId };
  }

  /** A primary in PRIMARY and its cross-region read replica `<id>-replica` in DR (by ARN, as real RDS wants). */
  async function createPair(instanceId: string): Promise<{ primary: RdsInstanceRef; replica: RdsInstanceRef; primaryArn: string }> {
    const primary = await createPrimary(instanceId);
    const primaryArn = (await instance(primary))!.DBInstanceArn!;
    const replica = { region: DR, instanceId: `${instanceId}-replica` };
    await aws.rds(DR).send(
      new CreateDBInstanceReadReplicaCommand({
        DBInstanceIdentifier: replica.instanceId,
        SourceDBInstanceIdentifier: primaryArn,
        DBInstanceClass: 'db.t3.medium',
        DBParameterGroupName: GROUP,
      }),
    );
    return { primary, replica, primaryArn };
  }

  async function instance(ref: RdsInstanceRef): Promise<DBInstance | null> {
    const out = await aws
      .rds(ref.region)
      .send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: ref.instanceId }))
      .catch((err: Error) => {
        if (err.name === 'DBInstanceNotFoundFault') return null;
        throw err;
      });
    return out?.DBInstances?.[0] ?? null;
  }

  async function readOnlyValue(region: string): Promise<string | undefined> {
    const out = await aws.rds(region).send(new DescribeDBParametersCommand({ DBParameterGroupName: GROUP }));
    return out.Parameters?.find((p) => p.ParameterName === READ_ONLY_PARAMETER)?.ParameterValue;
  }

  async function rdsTags(ref: RdsInstanceRef): Promise<Record<string, string>> {
    const arn = (await instance(ref))!.DBInstanceArn;
    const out = await aws.rds(ref.region).send(new ListTagsForResourceCommand({ ResourceName: arn }));
    return Object.fromEntries((out.TagList ?? []).map((t) => [t.Key!, t.Value!]));
  }

  const mismatch = expect.objectContaining({ name: ErrorType.InfrastructureMismatch });

  // ---------------------------------------------------------------- describe

  it('describes a missing instance as status null', async () => {
    expect(await ops.describeInstance({ region: PRIMARY, instanceId: 'no-such-db' })).toEqual({
      region: PRIMARY,
      instanceId: 'no-such-db',
      status: null,
      sourceIdentifier: null,
      arn: null,
      readOnly: false,
      fencedBy: null,
    });
  });

  it('describes a cross-region replica by its source ARN', async () => {
    const { replica, primaryArn } = await createPair('describe-db');
    expect(await ops.describeInstance(replica)).toEqual({
      region: DR,
      instanceId: 'describe-db-replica',
      status: 'available',
      sourceIdentifier: primaryArn,
      arn: expect.stringMatching(/^arn:aws:rds:us-west-2:\d+:db:describe-db-replica$/),
      readOnly: false,
      fencedBy: null,
    });
  });

  // ---------------------------------------------------------------- fencing the database

  it('fences a database read-only with its run, and unfences it; repeats of either change nothing', async () => {
    const { primary, replica } = await createPair('fence-db');

    const fenced = await ops.fenceDatabase(primary, 'failover-1');
    expect(fenced).toMatchObject({ status: 'available', readOnly: true, fencedBy: 'failover-1' });
    expect(await readOnlyValue(PRIMARY)).toBe('1');
    expect(await ops.fenceDatabase(primary, 'failover-1')).toEqual(fenced);
    // The replica has its own group in its own region.
    expect(await ops.describeInstance(replica)).toMatchObject({ readOnly: false, fencedBy: null });

    const unfenced = await ops.unfenceDatabase(primary);
    expect(unfenced).toMatchObject({ status: 'available', readOnly: false, fencedBy: null });
    expect(await readOnlyValue(PRIMARY)).toBe('0');
    expect(await rdsTags(primary)).not.toHaveProperty('baton:fenced');
    expect(await ops.unfenceDatabase(primary)).toEqual(unfenced);
  });

  it('refuses to fence an instance on a default parameter group, naming the group and what to do', async () => {
    const plain = await createPrimary('plain-db', { defaultGroup: true });
    const err = await ops.fenceDatabase(plain, 'failover-1').catch((e: Error) => e);
    expect(err).toEqual(mismatch);
    expect((err as Error).message).toMatch(/default parameter group 'default\.postgres16'.*its own DB parameter group/);
    expect(await rdsTags(plain)).not.toHaveProperty('baton:fenced');
    // Never fenced: unfencing changes nothing.
    expect(await ops.unfenceDatabase(plain)).toMatchObject({ status: 'available', readOnly: false, fencedBy: null });
  });

  it('refuses to fence an instance that does not exist', async () => {
    await expect(ops.fenceDatabase({ region: PRIMARY, instanceId: 'gone-db' }, 'failover-1')).rejects.toEqual(mismatch);
  });

  // ---------------------------------------------------------------- promotion

  it('promotes a replica to a standalone instance, and a repeat returns it as is', async () => {
    const { primary, replica, primaryArn } = await createPair('promote-db');
    const promoted = await ops.promoteReplica(replica);
    expect(promoted).toMatchObject({ instanceId: 'promote-db-replica', status: 'available', sourceIdentifier: null });
    expect((await rdsTags(replica))[PROMOTED_FROM_TAG]).toBe(primaryArn);
    expect(await ops.promoteReplica(replica)).toEqual(promoted);
    expect(await ops.describeInstance(replica)).toEqual(promoted);
    // An instance that never was a replica is returned as is.
    expect(await ops.promoteReplica(primary)).toMatchObject({ status: 'available', sourceIdentifier: null });
  });

  // ---------------------------------------------------------------- failback rebuild

  it('sets the old primary aside and creates the replica under its name from the promoted DR instance; repeats are safe', async () => {
    const { primary, replica } = await createPair('shop-db');
    await ops.fenceDatabase(primary, 'failover-1');
    const promoted = await ops.promoteReplica(replica);
    const aside = { region: PRIMARY, instanceId: 'shop-db-aside' };

    const renamed = await ops.renameInstance(primary, aside.instanceId);
    expect(renamed).toMatchObject({ instanceId: 'shop-db-aside', status: 'available', readOnly: true, fencedBy: 'failover-1' });
    expect(await instance(primary)).toBeNull();
    expect(await ops.renameInstance(primary, aside.instanceId)).toEqual(renamed);

    const rebuilt = await ops.createReplica(replica, primary, aside);
    expect(rebuilt).toMatchObject({ instanceId: 'shop-db', status: 'available', sourceIdentifier: promoted.arn });
    const made = (await instance(primary))!;
    // Like the aside: its class and its (fenced) parameter group.
    expect(made.DBInstanceClass).toBe('db.t3.small');
    expect(made.DBParameterGroups?.[0]?.DBParameterGroupName).toBe(GROUP);
    expect(rebuilt.readOnly).toBe(true);
    expect(await ops.createReplica(replica, primary, aside)).toEqual(rebuilt);

    // The name is taken by something else: no replica over it, no rename onto it.
    await expect(ops.createReplica(replica, aside, aside)).rejects.toEqual(mismatch);
    await expect(ops.renameInstance(primary, aside.instanceId)).rejects.toEqual(mismatch);
    await expect(ops.renameInstance({ region: PRIMARY, instanceId: 'nowhere-db' }, 'nowhere-db-aside')).rejects.toEqual(mismatch);
  });

  it('creates a missing cross-region replica like an instance in its region, by the source ARN', async () => {
    const { primary, primaryArn } = await createPair('fresh-db');
    const like = { region: DR, instanceId: 'fresh-db-replica' };
    const second = { region: DR, instanceId: 'fresh-db-second' };
    const made = await ops.createReplica(primary, second, like);
    expect(made).toMatchObject({ status: 'available', sourceIdentifier: primaryArn });
    expect((await instance(second))!.DBInstanceClass).toBe('db.t3.medium');
    await expect(ops.createReplica(primary, second, { region: PRIMARY, instanceId: 'fresh-db' })).rejects.toThrow(RangeError);
  });

  // ---------------------------------------------------------------- deletion

  it('deletes an instance with a final snapshot, one without, a replica, and a missing one', async () => {
    const withSnapshot = await createPrimary('delete-a');
    await ops.deleteInstance(withSnapshot, 'delete-a-final');
    expect(await instance(withSnapshot)).toBeNull();
    const snaps = await aws.rds(PRIMARY).send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'delete-a-final' }));
    expect(snaps.DBSnapshots?.[0]).toMatchObject({ DBInstanceIdentifier: 'delete-a', SnapshotType: 'manual' });
    await ops.deleteInstance(withSnapshot, 'delete-a-final');

    const without = await createPrimary('delete-b');
    await ops.deleteInstance(without, null);
    expect(await instance(without)).toBeNull();

    const { replica } = await createPair('delete-c');
    await ops.deleteInstance(replica, null);
    expect(await instance(replica)).toBeNull();

    await ops.deleteInstance({ region: DR, instanceId: 'never-was-db' }, null);
  });

  it('passes on RDS refusing to delete a protected instance as a spec mismatch', async () => {
    const db = await createPrimary('delete-e', { deletionProtection: true });
    await expect(ops.deleteInstance(db, null)).rejects.toEqual(mismatch);
    expect((await instance(db))?.DBInstanceStatus).toBe('available');
  });

  it('refuses a final snapshot name that is taken, and keeps the instance', async () => {
    const db = await createPrimary('delete-d');
    await aws.rds(PRIMARY).send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'delete-d', DBSnapshotIdentifier: 'delete-d-final' }));
    await expect(ops.deleteInstance(db, 'delete-d-final')).rejects.toEqual(mismatch);
    expect((await instance(db))?.DBInstanceStatus).toBe('available');
  });

  // ---------------------------------------------------------------- services

  describe('fencing services', () => {
    let target: ComputeTarget;

    beforeAll(async () => {
      const ecs = aws.ecs(PRIMARY);
      await ecs.send(new CreateClusterCommand({ clusterName: 'shop' }));
      const td = await ecs.send(new RegisterTaskDefinitionCommand({ family: 'shop', containerDefinitions: [{ name: 'shop', image: 'shop:1', memory: 128 }] }));
      const taskDefinition = td.taskDefinition!.taskDefinitionArn;
      await ecs.send(new CreateServiceCommand({ cluster: 'shop', serviceName: 'shop-blue', taskDefinition, desiredCount: 2 }));
      await ecs.send(new CreateServiceCommand({ cluster: 'shop', serviceName: 'shop-green', taskDefinition, desiredCount: 0 }));
      target = { region: PRIMARY, cluster: 'shop', services: { blue: 'shop-blue', green: 'shop-green' } };
    });

    async function desired(): Promise<Record<string, number>> {
      const out = await aws.ecs(PRIMARY).send(new DescribeServicesCommand({ cluster: 'shop', services: ['shop-blue', 'shop-green'] }));
      return Object.fromEntries((out.services ?? []).map((s) => [s.serviceName!, s.desiredCount!]));
    }

    async function countsTags(): Promise<(string | undefined)[]> {
      const out = await aws.ecs(PRIMARY).send(new DescribeServicesCommand({ cluster: 'shop', services: ['shop-blue', 'shop-green'] }));
      return Promise.all(
        (out.services ?? []).map(async (s) => {
          const tags = await aws.ecs(PRIMARY).send(new ListEcsTagsCommand({ resourceArn: s.serviceArn }));
          return tags.tags?.find((t) => t.key === FENCED_COUNTS_TAG)?.value;
        }),
      );
    }

    it('scales both colours to 0 with the counts recorded on both; a repeat keeps the first counts', async () => {
      expect(await ops.fencedCounts(target)).toBeNull();
      expect(await ops.fenceServices(target, 'failover-1')).toEqual({ blue: 2, green: 0 });
      expect(await desired()).toEqual({ 'shop-blue': 0, 'shop-green': 0 });
      expect(await countsTags()).toEqual(['blue=2 green=0', 'blue=2 green=0']);
      expect(await ops.fencedCounts(target)).toEqual({ blue: 2, green: 0 });
      // Both at 0 now: a repeat (or another run) still returns the counts from before the fence.
      expect(await ops.fenceServices(target, 'failover-2')).toEqual({ blue: 2, green: 0 });
      expect(await countsTags()).toEqual(['blue=2 green=0', 'blue=2 green=0']);
    });

    it('scales back to the recorded counts and removes the record; a repeat changes nothing', async () => {
      expect(await ops.unfenceServices(target, null)).toEqual({ blue: 2, green: 0 });
      expect(await desired()).toEqual({ 'shop-blue': 2, 'shop-green': 0 });
      expect(await countsTags()).toEqual([undefined, undefined]);
      expect(await ops.fencedCounts(target)).toBeNull();
      expect(await ops.unfenceServices(target, null)).toEqual({ blue: 2, green: 0 });
    });

    it('scales to the counts it is given instead, and removes the record', async () => {
      await ops.fenceServices(target, 'failover-3');
      expect(await ops.unfenceServices(target, { blue: 0, green: 1 })).toEqual({ blue: 0, green: 1 });
      expect(await desired()).toEqual({ 'shop-blue': 0, 'shop-green': 1 });
      expect(await ops.fencedCounts(target)).toBeNull();
      await ops.unfenceServices(target, { blue: 2, green: 0 });
    });

    it('refuses services that do not exist', async () => {
      await expect(ops.fenceServices({ ...target, services: { blue: 'shop-blue', green: 'no-such-service' } }, 'failover-4')).rejects.toEqual(mismatch);
      await expect(ops.fencedCounts({ ...target, cluster: 'no-such-cluster' })).rejects.toEqual(mismatch);
      expect(await desired()).toEqual({ 'shop-blue': 2, 'shop-green': 0 });
    });
  });

  // ---------------------------------------------------------------- DNS

  describe('setDnsPrimary', () => {
    let dns: FailoverDns;
    let healthCheckId: string;

    beforeAll(async () => {
      const route53 = aws.route53(PRIMARY);
      const zone = await route53.send(new CreateHostedZoneCommand({ Name: 'shop.internal', CallerReference: 'dr-ops-test' }));
      const hc = await route53.send(
        new CreateHealthCheckCommand({ CallerReference: 'dr-ops-test', HealthCheckConfig: { Type: 'HTTPS', FullyQualifiedDomainName: 'shop.us-east-1.shop.internal', ResourcePath: '/health' } }),
      );
      healthCheckId = hc.HealthCheck!.Id!;
      dns = { hostedZoneId: zone.HostedZone!.Id!, recordName: 'shop.shop.internal', recordType: 'CNAME', primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' };
      const record = (id: string, role: 'PRIMARY' | 'SECONDARY', value: string, check?: string) => ({
        Action: 'CREATE' as const,
        ResourceRecordSet: { Name: dns.recordName, Type: 'CNAME' as const, SetIdentifier: id, Failover: role, TTL: 30, HealthCheckId: check, ResourceRecords: [{ Value: value }] },
      });
      await route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: dns.hostedZoneId,
          ChangeBatch: { Changes: [record('primary', 'PRIMARY', 'shop.us-east-1.shop.internal', healthCheckId), record('secondary', 'SECONDARY', 'shop.us-west-2.shop.internal')] },
        }),
      );
    });

    async function records() {
      const out = await aws.route53(PRIMARY).send(new ListResourceRecordSetsCommand({ HostedZoneId: dns.hostedZoneId }));
      return (out.ResourceRecordSets ?? [])
        .filter((r) => r.Type === 'CNAME')
        .sort((a, b) => (a.SetIdentifier ?? '').localeCompare(b.SetIdentifier ?? ''))
        .map((r) => ({ id: r.SetIdentifier, failover: r.Failover, ttl: r.TTL, value: r.ResourceRecords?.[0]?.Value, check: r.HealthCheckId }));
    }

    it('swaps the roles in one change, keeping values, TTL and health check; a repeat sends nothing', async () => {
      const facts = await ops.setDnsPrimary(dns, 'secondary', DR);
      expect(facts.map((r) => [r.setIdentifier, r.failover]).sort()).toEqual([['primary', 'SECONDARY'], ['secondary', 'PRIMARY']]);
      expect(await records()).toEqual([
        { id: 'primary', failover: 'SECONDARY', ttl: 30, value: 'shop.us-east-1.shop.internal', check: healthCheckId },
        { id: 'secondary', failover: 'PRIMARY', ttl: 30, value: 'shop.us-west-2.shop.internal', check: undefined },
      ]);

      const sent = vi.spyOn(aws.route53(DR), 'send');
      try {
        expect(await ops.setDnsPrimary(dns, 'secondary', DR)).toEqual(facts);
        expect(sent.mock.calls.filter(([c]) => c instanceof ChangeResourceRecordSetsCommand)).toHaveLength(0);
      } finally {
        sent.mockRestore();
      }

      await ops.setDnsPrimary(dns, 'primary', DR);
      expect((await records()).map((r) => [r.id, r.failover])).toEqual([['primary', 'PRIMARY'], ['secondary', 'SECONDARY']]);
    });

    it('refuses a set identifier that is neither of the two, and records that are missing', async () => {
      await expect(ops.setDnsPrimary(dns, 'tertiary', DR)).rejects.toThrow(RangeError);
      await expect(ops.setDnsPrimary({ ...dns, secondarySetIdentifier: 'elsewhere' }, 'primary', DR)).rejects.toEqual(mismatch);
    });

    describe('with weighted records', () => {
      type Seed = { id: string; value: string; weight?: number; failover?: 'PRIMARY' | 'SECONDARY'; region?: string; check?: string };

      /** Two CNAME records named `<name>.shop.internal`, as given. */
      async function seed(name: string, records: Seed[]): Promise<FailoverDns> {
        const recordName = `${name}.shop.internal`;
        await aws.route53(PRIMARY).send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: dns.hostedZoneId,
            ChangeBatch: {
              Changes: records.map((r) => ({
                Action: 'CREATE' as const,
                ResourceRecordSet: {
                  Name: recordName,
                  Type: 'CNAME' as const,
                  SetIdentifier: r.id,
                  Weight: r.weight,
                  Failover: r.failover,
                  Region: r.region as 'us-east-1' | undefined,
                  HealthCheckId: r.check,
                  TTL: 30,
                  ResourceRecords: [{ Value: r.value }],
                },
              })),
            },
          }),
        );
        return { ...dns, recordName, primarySetIdentifier: records[0].id, secondarySetIdentifier: records[1].id };
      }

      async function named(recordName: string) {
        const out = await aws.route53(PRIMARY).send(new ListResourceRecordSetsCommand({ HostedZoneId: dns.hostedZoneId }));
        return (out.ResourceRecordSets ?? [])
          .filter((r) => r.Name === `${recordName}.` && r.Type === 'CNAME')
          .sort((a, b) => (a.SetIdentifier ?? '').localeCompare(b.SetIdentifier ?? ''))
          .map((r) => ({ id: r.SetIdentifier, weight: r.Weight, failover: r.Failover, ttl: r.TTL, value: r.ResourceRecords?.[0]?.Value, check: r.HealthCheckId }));
      }

      it('moves all the weight to the DR record and back, keeping values, TTL and health check; a repeat sends nothing', async () => {
        const weighted = await seed('weighted', [
          { id: 'east', value: 'shop.us-east-1.shop.internal', weight: 100, check: healthCheckId },
          { id: 'west', value: 'shop.us-west-2.shop.internal', weight: 0 },
        ]);

        const facts = await ops.setDnsPrimary(weighted, 'west', DR);
        expect(facts.map((r) => [r.setIdentifier, r.failover, r.weight]).sort()).toEqual([['east', null, 0], ['west', null, 100]]);
        expect(await named(weighted.recordName)).toEqual([
          { id: 'east', weight: 0, failover: undefined, ttl: 30, value: 'shop.us-east-1.shop.internal', check: healthCheckId },
          { id: 'west', weight: 100, failover: undefined, ttl: 30, value: 'shop.us-west-2.shop.internal', check: undefined },
        ]);

        const sent = vi.spyOn(aws.route53(DR), 'send');
        try {
          expect(await ops.setDnsPrimary(weighted, 'west', DR)).toEqual(facts);
          expect(sent.mock.calls.filter(([c]) => c instanceof ChangeResourceRecordSetsCommand)).toHaveLength(0);
        } finally {
          sent.mockRestore();
        }

        await ops.setDnsPrimary(weighted, 'east', DR);
        expect((await named(weighted.recordName)).map((r) => [r.id, r.weight, r.check])).toEqual([['east', 100, healthCheckId], ['west', 0, undefined]]);
      });

      it('gives the serving record the larger weight read, so there and back leaves the weights as found; 100 when both are 0', async () => {
        const light = await seed('light', [
          { id: 'east', value: 'shop.us-east-1.shop.internal', weight: 10 },
          { id: 'west', value: 'shop.us-west-2.shop.internal', weight: 0 },
        ]);
        await ops.setDnsPrimary(light, 'west', DR);
        expect((await named(light.recordName)).map((r) => [r.id, r.weight])).toEqual([['east', 0], ['west', 10]]);
        await ops.setDnsPrimary(light, 'east', DR);
        expect((await named(light.recordName)).map((r) => [r.id, r.weight])).toEqual([['east', 10], ['west', 0]]);

        // Both at 0 (Route 53 splits evenly) and both above 0: either way, one serves alone after.
        const even = await seed('even', [
          { id: 'east', value: 'shop.us-east-1.shop.internal', weight: 0 },
          { id: 'west', value: 'shop.us-west-2.shop.internal', weight: 0 },
        ]);
        await ops.setDnsPrimary(even, 'west', DR);
        expect((await named(even.recordName)).map((r) => [r.id, r.weight])).toEqual([['east', 0], ['west', 100]]);
        const split = await seed('split', [
          { id: 'east', value: 'shop.us-east-1.shop.internal', weight: 90 },
          { id: 'west', value: 'shop.us-west-2.shop.internal', weight: 10 },
        ]);
        await ops.setDnsPrimary(split, 'east', DR);
        expect((await named(split.recordName)).map((r) => [r.id, r.weight])).toEqual([['east', 90], ['west', 0]]);
      });

      it('refuses a failover record paired with a weighted one, and changes neither', async () => {
        const mixed = await seed('mixed', [
          { id: 'east', value: 'shop.us-east-1.shop.internal', failover: 'PRIMARY' },
          { id: 'west', value: 'shop.us-west-2.shop.internal', weight: 0 },
        ]);
        const before = await named(mixed.recordName);
        const err = await ops.setDnsPrimary(mixed, 'west', DR).catch((e: Error) => e);
        expect(err).toEqual(mismatch);
        expect((err as Error).message).toBe(
          `Route 53 records 'mixed.shop.internal' in hosted zone '${dns.hostedZoneId}': 'east' is a failover record (PRIMARY) and 'west' a weighted record (weight 0); both must be failover records or both weighted`,
        );
        expect(await named(mixed.recordName)).toEqual(before);
      });

      it('refuses a record that is neither a failover nor a weighted record, naming what it is', async () => {
        const latency = await seed('latency', [
          { id: 'east', value: 'shop.us-east-1.shop.internal', weight: 100 },
          { id: 'west', value: 'shop.us-west-2.shop.internal', region: 'us-west-2' },
        ]);
        const before = await named(latency.recordName);
        const err = await ops.setDnsPrimary(latency, 'west', DR).catch((e: Error) => e);
        expect(err).toEqual(mismatch);
        expect((err as Error).message).toBe(
          "Route 53 CNAME record 'latency.shop.internal' with set identifier 'west' is a latency record (region us-west-2): a failover moves DNS between two failover records or two weighted records",
        );
        expect(await named(latency.recordName)).toEqual(before);
      });
    });
  });

  // ---------------------------------------------------------------- activities

  describe('as activities', () => {
    const env = () => new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: new DefaultLogger('ERROR') });

    it('promote through the factory-built operator', async () => {
      const providers = createProviders({ awsEndpoint: moto.endpoint, awsCredentials: TEST_CREDENTIALS, slack: {} });
      const acts = failoverActivities(providers);
      const { replica } = await createPair('activity-db');
      const promoted = await env().run(acts.promoteReplica, replica);
      expect(promoted).toMatchObject({ instanceId: 'activity-db-replica', status: 'available', sourceIdentifier: null });
    });

    it('fail non-retryable on a spec mismatch and on a worker without a DR operator', async () => {
      const providers = createProviders({ awsEndpoint: moto.endpoint, awsCredentials: TEST_CREDENTIALS, slack: {} });
      const db = await createPrimary('activity-plain-db', { defaultGroup: true });
      const plain = await env()
        .run(failoverActivities(providers).fenceDatabase, db, 'failover-1')
        .catch((e: unknown) => e);
      expect(plain).toBeInstanceOf(ApplicationFailure);
      expect(plain).toMatchObject({ type: ErrorType.InfrastructureMismatch, nonRetryable: true });

      const { drOps: _unused, ...withoutOps } = providers;
      const missing = await env()
        .run(failoverActivities(withoutOps).describeDbInstance, db)
        .catch((e: unknown) => e);
      expect(missing).toMatchObject({ type: 'WorkerMisconfigured', nonRetryable: true });
    });
  });
});
