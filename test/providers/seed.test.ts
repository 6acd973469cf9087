import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeServicesCommand, ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListHostedZonesCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeDBInstancesCommand, DescribeDBParametersCommand } from '@aws-sdk/client-rds';
import { startMoto } from '../harness/servers';
import { motoClients, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { parameterGroupName, READ_ONLY_PARAMETER, SANDBOX_REGIONS, seedSandbox, type SeededTarget } from '../../src/sandbox/seed';
import type { AwsClients } from '../../src/providers/aws';

describe('the sandbox seed', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let first: SeededTarget[];

  beforeAll(async () => {
    moto = await startMoto();
    aws = motoClients(moto);
    first = await seedSandbox({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('returns web and api in dev, staging and prod of the primary region', () => {
    expect(first.map((t) => `${t.service}-${t.environment}@${t.region}`).sort()).toEqual(
      ['api-dev', 'api-prod', 'api-staging', 'web-dev', 'web-prod', 'web-staging'].map((n) => `${n}@${SANDBOX_REGIONS.primary}`),
    );
    expect(first.find((t) => t.service === 'web')?.traffic.type).toBe('alb');
    expect(first.find((t) => t.service === 'api')?.traffic).toMatchObject({ type: 'route53', recordName: 'api-dev.sandbox.baton.internal' });
  });

  it('leaves blue running 2 stable tasks and green at 0', async () => {
    const out = await aws.ecs(SANDBOX_REGIONS.primary).send(new DescribeServicesCommand({ cluster: 'web-prod', services: ['web-prod-blue', 'web-prod-green'] }));
    const [blue, green] = out.services!;
    expect({ desired: blue.desiredCount, running: blue.runningCount, deployments: blue.deployments?.length }).toEqual({ desired: 2, running: 2, deployments: 1 });
    expect({ desired: green.desiredCount, running: green.runningCount }).toEqual({ desired: 0, running: 0 });
  });

  it('keeps a disaster-recovery copy of prod at its standby size (0 tasks) in the DR region', async () => {
    const out = await aws.ecs(SANDBOX_REGIONS.dr).send(new DescribeServicesCommand({ cluster: 'api-prod', services: ['api-prod-blue', 'api-prod-green'] }));
    expect(out.services?.map((s) => s.desiredCount)).toEqual([0, 0]);
    expect(first.find((t) => t.dr)?.dr?.standbyCount).toBe(0);
    const lbs = await aws.elb(SANDBOX_REGIONS.dr).send(new DescribeLoadBalancersCommand({ Names: ['web-prod'] }));
    expect(lbs.LoadBalancers).toHaveLength(1);
  });

  it('gives api in prod an RDS primary, a cross-region read replica and Route 53 failover records', async () => {
    const api = first.find((t) => t.service === 'api' && t.environment === 'prod')!;
    expect(api.dr).toMatchObject({
      region: SANDBOX_REGIONS.dr,
      ecs: { cluster: 'api-prod', blueService: 'api-prod-blue', greenService: 'api-prod-green' },
      productionCount: 2,
      standbyCount: 0,
      database: { primary: { region: SANDBOX_REGIONS.primary, instanceId: 'api-prod-db' }, replica: { region: SANDBOX_REGIONS.dr, instanceId: 'api-prod-db-replica' } },
      dns: { recordName: 'api.sandbox.baton.internal', primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' },
    });
    expect(first.filter((t) => t.dr).map((t) => `${t.service}-${t.environment}`)).toEqual(['api-prod']);
    const replica = (await aws.rds(SANDBOX_REGIONS.dr).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'api-prod-db-replica' }))).DBInstances![0];
    expect(replica.ReadReplicaSourceDBInstanceIdentifier).toMatch(/^(arn:aws:rds:us-east-1:\d+:db:)?api-prod-db$/);
    const primary = (await aws.rds(SANDBOX_REGIONS.primary).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'api-prod-db' }))).DBInstances![0];
    expect(primary.DBInstanceStatus).toBe('available');
    const records = await aws.route53(SANDBOX_REGIONS.primary).send(new ListResourceRecordSetsCommand({ HostedZoneId: api.dr!.dns.hostedZoneId }));
    const failover = records.ResourceRecordSets!.filter((r) => r.Name === 'api.sandbox.baton.internal.').map((r) => [r.SetIdentifier, r.Failover, r.TTL, r.ResourceRecords?.[0]?.Value]);
    expect(failover.sort()).toEqual([
      ['primary', 'PRIMARY', 5, 'api-prod.sandbox.baton.internal'],
      ['secondary', 'SECONDARY', 5, 'api-prod.us-west-2.sandbox.baton.internal'],
    ]);
  });

  it('gives the primary and the replica each a parameter group of its own, with default_transaction_read_only at 0', async () => {
    expect([parameterGroupName('api-prod-db'), parameterGroupName('api-prod-db-replica')]).toEqual(['api-prod-db-params', 'api-prod-db-replica-params']);
    for (const [region, instanceId, group] of [
      [SANDBOX_REGIONS.primary, 'api-prod-db', 'api-prod-db-params'],
      [SANDBOX_REGIONS.dr, 'api-prod-db-replica', 'api-prod-db-replica-params'],
    ] as const) {
      const rds = aws.rds(region);
      const instance = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }))).DBInstances![0];
      expect(instance.DBParameterGroups?.map((g) => g.DBParameterGroupName)).toEqual([group]);
      const parameters = (await rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: group }))).Parameters ?? [];
      expect(parameters.filter((p) => p.ParameterName === READ_ONLY_PARAMETER).map((p) => p.ParameterValue)).toEqual(['0']);
    }
  });

  it('changes nothing and returns the same values when run a second time', async () => {
    const second = await seedSandbox({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS });
    expect(second).toEqual(first);

    const revisions = await aws.ecs(SANDBOX_REGIONS.primary).send(new ListTaskDefinitionsCommand({ familyPrefix: 'web-prod' }));
    expect(revisions.taskDefinitionArns).toHaveLength(1);
    const zones = await aws.route53(SANDBOX_REGIONS.primary).send(new ListHostedZonesCommand({}));
    expect(zones.HostedZones).toHaveLength(1);
    const api = first.find((t) => t.service === 'api' && t.environment === 'prod')!;
    if (api.traffic.type !== 'route53') throw new Error('api routes by Route 53');
    const records = await aws.route53(SANDBOX_REGIONS.primary).send(new ListResourceRecordSetsCommand({ HostedZoneId: api.traffic.hostedZoneId }));
    expect(records.ResourceRecordSets?.filter((r) => r.Name === 'api-prod.sandbox.baton.internal.')).toHaveLength(2);
    expect(records.ResourceRecordSets?.filter((r) => r.Name === 'api.sandbox.baton.internal.')).toHaveLength(2);
    const replicas = await aws.rds(SANDBOX_REGIONS.dr).send(new DescribeDBInstancesCommand({}));
    expect(replicas.DBInstances?.map((d) => d.DBInstanceIdentifier)).toEqual(['api-prod-db-replica']);
  });
});
