// The sandbox's region outages through the API, on a whole local Baton run as `npm start` runs it
// (AWS through the region gate, one worker per region, the feeder): an outage makes every AWS
// call into the region fail and stops its worker, while the other region and Route 53 carry
// on, and the feeder freezes the replica's lag; DELETE brings it all back. Then the control
// server's /regions on its own, with a fake sandbox behind it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { AddTagsToResourceCommand, RemoveTagsFromResourceCommand } from '@aws-sdk/client-rds';
import { buildApp } from '../../src/api/app';
import { createAwsClients, type AwsClients } from '../../src/providers/aws';
import { startControlServer, type ControlServer, type RegionControl, type RegionState } from '../../src/sandbox/control';
import { FaultStore } from '../../src/sandbox/faults';
import { FENCED_TAG } from '../../src/sandbox/feeder';
import { authed, errorOf, type ApiCaller } from '../harness/api';
import { MOTO_CREDENTIALS, startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

interface RegionsReply {
  regions: RegionState[];
}

/** What a call threw (its name), or 'ok'. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    return (err as Error).name;
  }
}

describe('region outages through the API (gate, a worker per region, feeder)', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let deployer: ApiCaller;
  let viewer: ApiCaller;
  let moto: AwsClients;

  beforeAll(async () => {
    stack = await startStack({ regionWorkers: true, feeder: true });
    app = await buildApp({ client: stack.client, config: stack.config });
    deployer = authed(app, stack.people.deployer);
    viewer = authed(app, stack.people.viewer);
    moto = createAwsClients({ endpoint: stack.moto.endpoint, credentials: MOTO_CREDENTIALS });
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const api = () => stack.config.services.api;
  /** An ECS read in each region, through what the workers use (the gate). */
  const ecsIn = {
    'us-east-1': () => outcome(stack.providers.compute.describe(api().environments.prod.compute, 'blue')),
    'us-west-2': () => outcome(stack.providers.compute.describe(api().dr.prod.compute, 'blue')),
  };
  /** The replica's newest ReplicaLag datapoint of the last few seconds, read from moto directly. */
  const newestLag = async (): Promise<number | null> => {
    const { replica } = api().dr.prod.database;
    const now = Date.now();
    const out = await moto.cloudwatch(replica.region).send(new GetMetricStatisticsCommand({
      Namespace: 'AWS/RDS',
      MetricName: 'ReplicaLag',
      Dimensions: [{ Name: 'DBInstanceIdentifier', Value: replica.instanceId }],
      StartTime: new Date(now - 2500),
      EndTime: new Date(now + 1000),
      Period: 1,
      Statistics: ['Maximum'],
    }));
    const newest = (out.Datapoints ?? []).sort((a, b) => b.Timestamp!.getTime() - a.Timestamp!.getTime())[0];
    return newest?.Maximum ?? null;
  };
  const primaryArn = () => `arn:aws:rds:us-east-1:123456789012:db:${api().dr.prod.database.primary.instanceId}`;

  it('lists the regions, each with its own running worker and no outage', async () => {
    const res = await viewer.get<RegionsReply>('/v1/sandbox/regions');
    expect(res.status).toBe(200);
    expect(res.body.regions).toEqual([
      { region: 'us-east-1', worker: { name: 'worker-us-east-1', running: true }, outage: null },
      { region: 'us-west-2', worker: { name: 'worker-us-west-2', running: true }, outage: null },
    ]);
  });

  it('refuses an unknown region with a 400 naming the known ones, and a viewer with a 403', async () => {
    const res = await deployer.post('/v1/sandbox/regions/eu-west-9/outage');
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: 'bad_request', field: 'region', message: "region: unknown region 'eu-west-9' (known: us-east-1, us-west-2)" });
    expect((await deployer.delete('/v1/sandbox/regions/eu-west-9/outage')).status).toBe(400);
    expect((await viewer.post('/v1/sandbox/regions/us-east-1/outage')).status).toBe(403);
  });

  it('publishes the replica\'s lag as 0 once its primary is fenced', async () => {
    expect(await until('a ReplicaLag datapoint', newestLag, (s) => s === 1, 15_000)).toBe(1);
    await moto.rds('us-east-1').send(new AddTagsToResourceCommand({ ResourceName: primaryArn(), Tags: [{ Key: FENCED_TAG, Value: 'test' }] }));
    expect(await until('ReplicaLag 0', newestLag, (s) => s === 0, 15_000)).toBe(0);
  });

  let since: string;

  it('takes us-east-1 out: its ECS calls fail, us-west-2 and Route 53 work, its worker stops', async () => {
    expect(await ecsIn['us-east-1']()).toBe('ok');
    const res = await deployer.post<RegionsReply>('/v1/sandbox/regions/us-east-1/outage');
    expect(res.status).toBe(200);
    const east = res.body.regions.find((r) => r.region === 'us-east-1')!;
    expect(east).toEqual({ region: 'us-east-1', worker: { name: 'worker-us-east-1', running: false }, outage: { since: expect.any(String), refused: 0 } });
    since = east.outage!.since;
    expect(res.body.regions.find((r) => r.region === 'us-west-2')).toMatchObject({ worker: { running: true }, outage: null });
    expect(stack.workers.isRunning('us-east-1')).toBe(false);

    expect(await ecsIn['us-east-1']()).toBe('ServiceUnavailable');
    expect(await ecsIn['us-west-2']()).toBe('ok');
    // Route 53 is global: api's weighted records answer through the same gate.
    expect(await stack.providers.routerFor(api().environments.prod.traffic).getWeights()).toEqual({ blue: 100, green: 0 });
    // moto itself still has it all.
    expect(await outcome(stack.motoProviders.compute.describe(api().environments.prod.compute, 'blue'))).toBe('ok');
  });

  it('keeps an outage that is already on, as it was (idempotent)', async () => {
    const res = await deployer.post<RegionsReply>('/v1/sandbox/regions/us-east-1/outage');
    expect(res.status).toBe(200);
    expect(res.body.regions.find((r) => r.region === 'us-east-1')?.outage).toEqual({ since, refused: expect.any(Number) });
  });

  it('freezes the replica\'s lag while its primary\'s region is out', async () => {
    // Unfenced in moto, but nothing replicates from an out region: the lag stays what it was.
    await moto.rds('us-east-1').send(new RemoveTagsFromResourceCommand({ ResourceName: primaryArn(), TagKeys: [FENCED_TAG] }));
    await new Promise((r) => setTimeout(r, 2500));
    expect(await newestLag()).toBe(0);
  });

  it('ends the outage: us-east-1 answers again and its worker runs', async () => {
    const res = await deployer.delete<RegionsReply>('/v1/sandbox/regions/us-east-1/outage');
    expect(res.status).toBe(200);
    expect(res.body.regions.find((r) => r.region === 'us-east-1')).toEqual({ region: 'us-east-1', worker: { name: 'worker-us-east-1', running: true }, outage: null });
    expect(stack.workers.isRunning('us-east-1')).toBe(true);
    expect(await ecsIn['us-east-1']()).toBe('ok');
    expect(await until('the usual ReplicaLag again', newestLag, (s) => s === 1, 15_000)).toBe(1);
    // Ending an outage that is not on changes nothing.
    expect((await deployer.delete<RegionsReply>('/v1/sandbox/regions/us-east-1/outage')).body.regions.every((r) => r.outage === null && r.worker.running)).toBe(true);
  });
});

describe('the control server\'s /regions', () => {
  let control: ControlServer;
  let bare: ControlServer;
  const calls: string[] = [];
  const state: Record<string, { out: boolean }> = { 'us-east-1': { out: false }, 'us-west-2': { out: false } };
  const regions: RegionControl = {
    list: () => Object.entries(state).map(([region, s]) => ({ region, worker: { name: `worker-${region}`, running: !s.out }, outage: s.out ? { since: '2025-01-01T00:00:00.000Z', refused: 0 } : null })),
    startOutage: async (region) => {
      calls.push(`out ${region}`);
      state[region].out = true;
    },
    endOutage: async (region) => {
      calls.push(`back ${region}`);
      state[region].out = false;
    },
  };

  beforeAll(async () => {
    control = await startControlServer({ faults: new FaultStore(), regions });
    bare = await startControlServer({ faults: new FaultStore() });
  });

  afterAll(async () => {
    await control?.stop();
    await bare?.stop();
  });

  const call = async (server: ControlServer, method: string, path: string) => {
    const res = await fetch(`${server.url}${path}`, { method });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  it('acts through the sandbox\'s callbacks and answers with every region', async () => {
    const out = await call(control, 'POST', '/regions/us-west-2/outage');
    expect(out.status).toBe(200);
    expect((out.json.regions as RegionState[]).map((r) => [r.region, r.worker.running, r.outage !== null])).toEqual([['us-east-1', true, false], ['us-west-2', false, true]]);
    expect((await call(control, 'DELETE', '/regions/us-west-2/outage')).status).toBe(200);
    expect(calls).toEqual(['out us-west-2', 'back us-west-2']);
    expect((await call(control, 'GET', '/regions')).json).toEqual({ regions: regions.list() });
  });

  it('answers 400 naming the regions to an unknown one, 405 to another method, 404 without region control', async () => {
    expect(await call(control, 'POST', '/regions/mars-1/outage')).toEqual({
      status: 400,
      json: { error: { code: 'bad_request', field: 'region', message: "region: unknown region 'mars-1' (known: us-east-1, us-west-2)" } },
    });
    expect((await call(control, 'PUT', '/regions/us-east-1/outage')).status).toBe(405);
    expect((await call(control, 'GET', '/regions/us-east-1/nothing')).status).toBe(404);
    expect((await call(bare, 'GET', '/regions')).status).toBe(404);
  });
});
