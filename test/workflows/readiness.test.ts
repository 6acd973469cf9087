// Disaster-recovery readiness on the real dev server with moto: the seeded sandbox (api in prod
// with a DR copy in us-west-2, an RDS primary and its cross-region read replica, Route 53
// failover records) checked by the `readiness` schedule's runs, read through the API. RDS
// publishes ReplicaLag in real AWS; here the test puts the datapoints into moto's CloudWatch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import type { ReadinessReplyT } from '../../src/api/failover-schemas';
import { regionQueue } from '../../src/domain/regions';
import { createAwsClients } from '../../src/providers/aws';
import { replicaLagDatum } from '../../src/sandbox/feeder';
import { READINESS_SCHEDULE_ID, syncReadinessSchedule, triggerReadiness } from '../../src/temporal/readiness';
import { authed, type ApiCaller } from '../harness/api';
import { startFakeSlack, type FakeSlack } from '../harness/fake-slack';
import { historyFacts, scheduled } from '../harness/history';
import { MOTO_CREDENTIALS, startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

const CHANNEL = 'C0READINESS';

describe('DR readiness (dev server, moto)', () => {
  let stack: Stack;
  let slack: FakeSlack;
  let app: FastifyInstance;
  let val: ApiCaller;

  beforeAll(async () => {
    slack = await startFakeSlack();
    stack = await startStack({ slack: { apiUrl: slack.apiUrl, channel: CHANNEL } });
    app = await buildApp({ client: stack.client, config: stack.config });
    val = authed(app, stack.people.viewer);
  });

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
    await slack?.stop();
  });

  const readiness = async () => {
    const res = await val.get<ReadinessReplyT>('/v1/failovers/readiness');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  /** Waits for a readiness run newer than `after` to be recorded. */
  const nextResult = (after: string | null) => until('a newer readiness result', readiness, (r) => r.checkedAt !== null && (after === null || r.checkedAt > after), 60_000);
  const putLag = async (seconds: number, at: Date) => {
    const dr = stack.config.services.api.dr.prod;
    const cloudwatch = createAwsClients({ endpoint: stack.moto.endpoint, credentials: MOTO_CREDENTIALS }).cloudwatch(dr.database.replica.region);
    await cloudwatch.send(new PutMetricDataCommand({ Namespace: 'AWS/RDS', MetricData: [replicaLagDatum(dr.database.replica, seconds, at)] }));
  };
  const failingPosts = () => slack.accepted('chat.postMessage').map((c) => String(c.args.text));
  const lastRun = async () => {
    const d = await stack.client.schedule.getHandle(READINESS_SCHEDULE_ID).describe();
    const action = d.info.recentActions.at(-1)?.action;
    if (!action) throw new Error('the readiness schedule has not run');
    return stack.client.workflow.getHandle(action.workflow.workflowId, action.workflow.firstExecutionRunId);
  };

  let checkedAt: string;

  it('answers "not checked yet" for api in prod before the schedule exists', async () => {
    const r = await readiness();
    expect(r).toMatchObject({ ok: false, checkedAt: null, everySeconds: 900 });
    expect(r.services).toEqual([expect.objectContaining({ service: 'api', environment: 'prod', primaryRegion: 'us-east-1', drRegion: 'us-west-2', checkedAt: null, checks: [], failing: ['not-checked'] })]);
  });

  it('fails closed with no ReplicaLag datapoint, passing every other check of the seeded sandbox, and posts it to Slack', async () => {
    expect(await syncReadinessSchedule(stack.client, stack.config)).toBe(true);
    const r = await nextResult(null);
    checkedAt = r.checkedAt!;
    const api = r.services[0];
    expect(api.failing).toEqual(['replica-lag']);
    expect(api.checks.map((c) => [c.name, c.ok])).toEqual([['dr-compute', true], ['dr-capacity', true], ['replica', true], ['replica-lag', false], ['dns', true]]);
    expect(api.checks.find((c) => c.name === 'replica-lag')!.detail).toBe(
      'no ReplicaLag datapoint for api-prod-db-replica in us-west-2 in the last 600 s: replication cannot be shown to be within the RPO of 30 s (fail-closed)',
    );
    expect(api.checks.find((c) => c.name === 'replica')!.detail).toBe('RDS replica api-prod-db-replica in us-west-2 of api-prod-db in us-east-1 is available');
    expect(api.checks.find((c) => c.name === 'dns')!.detail).toMatch(/^api\.sandbox\.baton\.internal\.: PRIMARY 'primary' → api-prod\.sandbox\.baton\.internal \(TTL 5 s\); SECONDARY 'secondary' → api-prod\.us-west-2\.sandbox\.baton\.internal \(TTL 5 s\)$/);
    expect(r.failing).toEqual([{ service: 'api', environment: 'prod', check: 'replica-lag', detail: expect.stringMatching(/fail-closed/) }]);
    await until('the failure posted to Slack', async () => failingPosts(), (t) => t.some((x) => /DR readiness of api in prod \(DR us-west-2\) fails 1 check/.test(x)), 30_000);

    // Every read ran on the queue of the region it reads: the DR region's.
    const facts = await historyFacts(await lastRun());
    const west = regionQueue(stack.taskQueue, 'us-west-2');
    for (const type of ['readDrCompute', 'readReplica', 'readReplicaLag', 'readFailoverRecords']) expect(scheduled(facts, type).map((f) => f.taskQueue)).toEqual([west]);
    expect(scheduled(facts, 'recordReadiness').map((f) => f.taskQueue)).toEqual([stack.taskQueue]);
  });

  it('passes once the replica reports a lag under the RPO, and says it passes again', async () => {
    await putLag(1, new Date(Date.now() - 120_000));
    await triggerReadiness(stack.client);
    const r = await nextResult(checkedAt);
    checkedAt = r.checkedAt!;
    expect(r.ok, JSON.stringify(r.failing)).toBe(true);
    expect(r.failing).toEqual([]);
    expect(r.services[0].checks.find((c) => c.name === 'replica-lag')!.detail).toMatch(/^ReplicaLag of api-prod-db-replica is 1 s at .*, under the RPO of 30 s$/);
    await until('the recovery posted to Slack', async () => failingPosts(), (t) => t.some((x) => /DR readiness of api in prod \(DR us-west-2\) passes again/.test(x)), 30_000);
  });

  it('reports a replica whose ReplicaLag exceeds the RPO as failing, with the lag and the RPO', async () => {
    await putLag(90, new Date(Date.now() - 20_000));
    await triggerReadiness(stack.client);
    const r = await nextResult(checkedAt);
    expect(r.ok).toBe(false);
    expect(r.services[0].failing).toEqual(['replica-lag']);
    expect(r.failing).toEqual([{ service: 'api', environment: 'prod', check: 'replica-lag', detail: expect.stringMatching(/^ReplicaLag of api-prod-db-replica is 90 s at .*, not under the RPO of 30 s$/) }]);
    await until('the new failure posted to Slack', async () => failingPosts(), (t) => t.some((x) => /is 90 s at .*not under the RPO of 30 s/.test(x)), 30_000);
  });
});
