// The sandbox's fault store and the feeder: its arithmetic (a DR copy's traffic included) without
// servers, then moto showing an injected fault at once, with each second's requests counted once.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { startMoto } from '../harness/servers';
import { until } from '../harness/wait';
import { loadConfigFile } from '../../src/config';
import { FaultError, FaultStore } from '../../src/sandbox/faults';
import { BASELINE, cloudWatchPut, feedTargets, metricData, requestsIn, startFeeder, trafficSample, type FeedTarget, type PutMetricData, type SampleInput } from '../../src/sandbox/feeder';
import type { MetricsSpec } from '../../src/domain/types';
import { createAwsClients } from '../../src/providers/aws';
import { createCloudWatchMetrics } from '../../src/providers/cloudwatch';
import type { TrafficRouter } from '../../src/providers/types';

const key = { service: 'web', environment: 'prod', colour: 'green' } as const;

function errorOf(fn: () => unknown): FaultError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FaultError) return err;
    throw err;
  }
  throw new Error('expected a FaultError');
}

describe('FaultStore', () => {
  it('stores a fault per service, environment and colour, and heals it', () => {
    const store = new FaultStore();
    expect(store.set({ ...key, errorRate: 0.3 })).toEqual({ ...key, errorRate: 0.3, latencyMs: 0 });
    expect(store.get('web', 'prod', 'green')?.errorRate).toBe(0.3);
    expect(store.get('web', 'prod', 'blue')).toBeNull();
    expect(store.clear(key)).toBe(true);
    expect(store.list()).toEqual([]);
  });

  it('replaces a colour’s fault rather than merging it', () => {
    const store = new FaultStore();
    store.set({ ...key, errorRate: 0.3 });
    store.set({ ...key, latencyMs: 700 });
    expect(store.list()).toEqual([{ ...key, errorRate: 0, latencyMs: 700 }]);
  });

  it.each([
    [{ ...key, errorRate: 1.5 }, 'errorRate', 'between 0 and 1'],
    [{ ...key, errorRate: -0.1 }, 'errorRate', 'between 0 and 1'],
    [{ ...key, errorRate: '0.3' }, 'errorRate', 'must be a number'],
    [{ ...key, latencyMs: -1 }, 'latencyMs', 'at least 0'],
    [{ ...key }, 'errorRate', 'give errorRate'],
    [{ ...key, colour: 'red', errorRate: 0.1 }, 'colour', "'blue' or 'green'"],
    [{ environment: 'prod', colour: 'blue', errorRate: 0.1 }, 'service', 'service:'],
    [[1, 2], 'body', 'JSON object'],
  ])('refuses %j naming the field %s', (body, field, text) => {
    const err = errorOf(() => new FaultStore().set(body));
    expect(err.field).toBe(field);
    expect(err.message).toContain(text);
  });

  it('tells its listeners of every change, and of nothing else, until they unsubscribe', () => {
    const store = new FaultStore();
    const heard: unknown[] = [];
    const unsubscribe = store.subscribe((k) => heard.push(k));
    store.set({ ...key, errorRate: 0.3 });
    store.set({ ...key, errorRate: 0.3 }); // the same fault again: no change
    store.set({ ...key, errorRate: 0.3, latencyMs: 100 });
    expect(() => store.set({ ...key, errorRate: 2 })).toThrow(FaultError);
    store.clear(key);
    store.clear(key); // nothing to heal
    unsubscribe();
    store.set({ ...key, errorRate: 0.5 });
    expect(heard).toEqual([key, key, key]);
  });

  it('refuses a service the sandbox does not have, when it knows its services', () => {
    const store = new FaultStore({ known: [{ service: 'web', environment: 'prod' }] });
    expect(errorOf(() => store.set({ ...key, service: 'wbe', errorRate: 0.3 })).message).toContain("no 'wbe' in 'prod'");
    expect(store.set({ ...key, errorRate: 0.3 }).service).toBe('web');
  });
});

const half = () => 0.5; // no jitter

describe('trafficSample', () => {
  const SECOND = 1_764_000_000; // any second since the epoch
  /** What a colour serves over `n` seconds from SECOND, added up. */
  const over = (n: number, input: Omit<SampleInput, 'second'>) => Array.from({ length: n }, (_, i) => trafficSample({ ...input, second: SECOND + i }))
    .reduce((a, b) => ({ requests: a.requests + b.requests, errors: a.errors + b.errors }), { requests: 0, errors: 0 });

  it('splits each second\'s requests by weight, and any run of seconds adds up to the rate', () => {
    expect(trafficSample({ weight: 100, second: SECOND, totalRps: 50, fault: null, random: half }).requests).toBe(50);
    expect(trafficSample({ weight: 10, second: SECOND, totalRps: 50, fault: null, random: half }).requests).toBe(5);
    // Half a request a second: one every other second (not one every second, twice the rate).
    expect(Array.from({ length: 4 }, (_, i) => requestsIn(SECOND + i, 0.5))).toEqual([1, 0, 1, 0]);
    expect(over(10, { weight: 1, totalRps: 50, fault: null, random: half }).requests).toBe(5);
    expect(Math.abs(over(7, { weight: 100 / 3, totalRps: 50, fault: null, random: half }).requests - (7 * 50) / 3)).toBeLessThanOrEqual(1);
  });

  it('keeps a healthy colour free of 5xx at sandbox volumes and near the baseline latency', () => {
    expect(over(60, { weight: 100, totalRps: 50, fault: null, random: half }).errors).toBe(0);
    const s = trafficSample({ weight: 100, second: SECOND, totalRps: 50, fault: null, random: half });
    expect(s.latencyMs).toBe(BASELINE.latencyMs);
    const high = trafficSample({ weight: 100, second: SECOND, totalRps: 50, fault: null, random: () => 1 });
    expect(high.latencyMs).toBeCloseTo(BASELINE.latencyMs * (1 + BASELINE.jitter));
  });

  it('shows the baseline error rate at real volumes', () => {
    expect(over(60, { weight: 100, totalRps: 500, fault: null, random: half }).errors).toBe(60);
  });

  it('applies a fault’s error rate and added latency', () => {
    const s = trafficSample({ weight: 50, second: SECOND, totalRps: 50, fault: { errorRate: 0.2, latencyMs: 600 }, random: half });
    expect(s).toEqual({ requests: 25, errors: 5, latencyMs: 680 });
    // 30 % of 5 requests a second: 1, 2, 1, 2, ... rather than 1 every second (20 %).
    expect(over(10, { weight: 10, totalRps: 50, fault: { errorRate: 0.3, latencyMs: 0 }, random: half })).toEqual({ requests: 50, errors: 15 });
  });
});

const spec: MetricsSpec = {
  type: 'cloudwatch',
  region: 'us-east-1',
  namespace: 'AWS/ApplicationELB',
  requests: { metricName: 'RequestCount', statistic: 'Sum' },
  errors: { metricName: 'HTTPCode_Target_5XX_Count', statistic: 'Sum' },
  latency: { metricName: 'TargetResponseTime', statistic: 'Average', unit: 'seconds' },
  extraErrors: [],
  dimensions: { blue: { TargetGroup: 'tg/blue' }, green: { TargetGroup: 'tg/green' } },
};

describe('metricData', () => {
  it('writes the colour’s names, dimensions and latency unit', () => {
    const at = new Date('2025-01-01T00:00:00Z');
    const data = metricData(spec, 'green', { requests: 10, errors: 3, latencyMs: 80 }, at);
    expect(data.map((d) => [d.MetricName, d.Value, d.Unit])).toEqual([
      ['RequestCount', 10, 'Count'],
      ['HTTPCode_Target_5XX_Count', 3, 'Count'],
      ['TargetResponseTime', 0.08, 'Seconds'],
    ]);
    expect(data[0].Dimensions).toEqual([{ Name: 'TargetGroup', Value: 'tg/green' }]);
    expect(data[0].Timestamp).toBe(at);
    const ms = metricData({ ...spec, latency: { ...spec.latency, unit: 'milliseconds' } }, 'blue', { requests: 1, errors: 0, latencyMs: 80 }, at);
    expect([ms[2].Value, ms[2].Unit]).toEqual([80, 'Milliseconds']);
  });
});

describe('startFeeder', () => {
  const target: FeedTarget = {
    service: 'web',
    environment: 'prod',
    traffic: { type: 'alb', region: 'us-east-1', listenerArn: 'l', targetGroups: { blue: 'b', green: 'g' } },
    metrics: spec,
  };
  const router: TrafficRouter = {
    getWeights: async () => ({ blue: 90, green: 10 }),
    setWeights: async () => ({ syncToken: null }),
    isSynced: async () => true,
    verify: async () => true,
    settleSeconds: async () => 0,
  };

  /** Each datum of some puts as `<dimension> <metric> <second>` → value. */
  const bySecond = (puts: Parameters<PutMetricData>[]) => puts.flatMap(([, input]) => (input.MetricData ?? [])
    .map((d) => [`${d.Dimensions?.[0].Value} ${d.MetricName} ${(d.Timestamp as Date).getTime() / 1000}`, d.Value] as const));

  it('writes a datapoint a second for the colours that take traffic, and retries the seconds of a failed put', async () => {
    const calls: Parameters<PutMetricData>[] = [];
    const lines: string[] = [];
    let fail = true;
    const feeder = startFeeder({
      targets: [target],
      routerFor: () => router,
      put: async (region, input) => {
        calls.push([region, input]);
        if (fail) throw new Error('moto is down');
      },
      faults: new FaultStore(),
      intervalMs: 2000,
      log: (l) => lines.push(l),
      random: half,
    });
    await feeder.tick(); // after the first, which failed
    fail = false;
    await feeder.tick();
    await feeder.stop();
    expect(lines).toEqual([expect.stringContaining('moto is down'), 'web/prod: writing metrics again']);
    const [region, input] = calls[calls.length - 1];
    expect(region).toBe('us-east-1');
    expect(input.Namespace).toBe('AWS/ApplicationELB');
    const seconds = [...new Set(input.MetricData?.map((d) => (d.Timestamp as Date).getTime()))];
    // The first tick's interval (2 s), whole seconds that are over, and nothing lost to the failure.
    expect(seconds.length).toBeGreaterThanOrEqual(2);
    expect(seconds.every((ms, i) => ms % 1000 === 0 && (i === 0 || ms === seconds[i - 1] + 1000))).toBe(true);
    expect(seconds[seconds.length - 1]).toBeLessThanOrEqual(Date.now() - 1000);
    expect(bySecond([calls[0]]).every(([k]) => bySecond([calls[calls.length - 1]]).some(([k2]) => k2 === k))).toBe(true);
    for (const ms of seconds) {
      expect(input.MetricData?.filter((d) => (d.Timestamp as Date).getTime() === ms).map((d) => [d.Dimensions?.[0].Value, d.MetricName, d.Value])).toEqual([
        ['tg/blue', 'RequestCount', 45],
        ['tg/blue', 'HTTPCode_Target_5XX_Count', 0],
        ['tg/blue', 'TargetResponseTime', 0.08],
        ['tg/green', 'RequestCount', 5],
        ['tg/green', 'HTTPCode_Target_5XX_Count', 0],
        ['tg/green', 'TargetResponseTime', 0.08],
      ]);
    }
  });

  it('writes a fault change at once, and counts each second\'s requests once however many changes and ticks come', async () => {
    const calls: Parameters<PutMetricData>[] = [];
    const faults = new FaultStore();
    const feeder = startFeeder({ targets: [target], routerFor: () => router, put: async (...call) => { calls.push(call); }, faults, intervalMs: 60_000, log: () => undefined, random: half });
    await feeder.tick(); // after the first: both are over
    const before = calls.length;
    faults.set({ ...key, errorRate: 0.2 });
    // No tick for a minute: what follows is the change's own write, 20 % of green's 5 requests a second.
    await until('the change written', async () => calls.length, (n) => n > before, 500, 5);
    const added = bySecond(calls.slice(before)).filter(([k]) => k.startsWith('tg/green HTTPCode_Target_5XX_Count'));
    expect(added.length).toBeGreaterThan(0);
    expect(added.every(([, v]) => v === 1)).toBe(true);
    // More changes within the same second, ticks, and the write once the second is over.
    faults.set({ ...key, errorRate: 0.4 });
    faults.clear(key);
    await feeder.tick();
    await new Promise((r) => setTimeout(r, 1100));
    await feeder.tick();
    await feeder.stop();
    const all = bySecond(calls);
    // Requests and latency: one datapoint a colour and second, never two.
    const counted = all.filter(([k]) => !k.includes('5XX')).map(([k]) => k);
    expect(new Set(counted).size).toBe(counted.length);
    expect(all.filter(([k]) => k.includes('RequestCount')).every(([k, v]) => v === (k.startsWith('tg/blue') ? 45 : 5))).toBe(true);
    // Errors: a second's may come in parts (a change adds to a second reported), never more than its requests.
    const greenErrors = new Map<string, number>();
    for (const [k, v] of all) if (k.startsWith('tg/green HTTPCode_Target_5XX_Count')) greenErrors.set(k, (greenErrors.get(k) ?? 0) + (v ?? 0));
    expect(Math.max(...greenErrors.values())).toBeGreaterThan(0);
    expect(Math.max(...greenErrors.values())).toBeLessThanOrEqual(5 * 0.4);
  });
});

describe('the feeder and a DR copy', () => {
  const dns = { hostedZoneId: 'Z1', recordName: 'api.sandbox.baton.internal.', recordType: 'CNAME' as const, primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' };
  const compute = { region: 'us-west-2', cluster: 'api-prod', services: { blue: 'api-prod-blue', green: 'api-prod-green' } };
  const dr: FeedTarget = {
    service: 'api',
    environment: 'prod',
    traffic: { type: 'failover', dns, setIdentifier: 'secondary', compute },
    metrics: { ...spec, region: 'us-west-2', namespace: 'Baton/Sandbox', dimensions: { blue: { Colour: 'blue' }, green: { Colour: 'green' } } },
  };

  /** Route 53 and ECS as the failover leaves them: which record is PRIMARY, how many tasks each DR colour runs. */
  function world(primary: 'primary' | 'secondary', running: Record<'blue' | 'green', number>) {
    const service = (name: string, n: number) => ({ name, status: 'ACTIVE', taskDefinitionArn: 'td', taskDefinitionActive: true, desiredCount: n, runningCount: n });
    return {
      failoverRecords: async () => (['primary', 'secondary'] as const).map((id) => ({ setIdentifier: id, type: 'CNAME', failover: id === primary ? 'PRIMARY' : 'SECONDARY', ttl: 5, values: [] })),
      compute: async () => ({ cluster: 'api-prod', clusterStatus: 'ACTIVE', services: { blue: service('api-prod-blue', running.blue), green: service('api-prod-green', running.green) } }),
    };
  }

  async function fed(reader: ReturnType<typeof world> | undefined, faults = new FaultStore(), lines: string[] = []) {
    const calls: Parameters<PutMetricData>[] = [];
    const feeder = startFeeder({
      targets: [dr],
      routerFor: () => { throw new Error('a DR copy has no router to read'); },
      dr: reader,
      put: async (region, input) => { calls.push([region, input]); },
      faults,
      intervalMs: 2000,
      log: (l) => lines.push(l),
      random: half,
    });
    await feeder.stop(); // the first tick, which starts with the feeder
    return calls;
  }

  it('lists a DR copy with metrics among the targets, read in the DR region', () => {
    const c = loadConfigFile(resolve(__dirname, '../../config/example.yaml'));
    const targets = feedTargets(c).filter((t) => t.traffic.type === 'failover');
    expect(targets).toEqual([{ service: 'api', environment: 'prod', traffic: { type: 'failover', dns: c.services.api.dr.prod.dns, setIdentifier: 'us-west-2', compute: c.services.api.dr.prod.compute }, metrics: c.services.api.dr.prod.metrics }]);
    expect(targets[0].metrics.region).toBe('us-west-2');
    // Without `dr.metrics`, nothing to publish there.
    const smokeOnly = { ...c, services: { ...c.services, api: { ...c.services.api, dr: { prod: { ...c.services.api.dr.prod, metrics: null } } } } };
    expect(feedTargets(smokeOnly).some((t) => t.traffic.type === 'failover')).toBe(false);
  });

  it('publishes nothing while the DR record is SECONDARY, even with tasks running, nor while no task runs', async () => {
    const lines: string[] = [];
    expect(await fed(world('primary', { blue: 2, green: 0 }), new FaultStore(), lines)).toEqual([]);
    expect(await fed(world('secondary', { blue: 0, green: 0 }), new FaultStore(), lines)).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('publishes the running colour in the DR region once its record is PRIMARY, with the colour\'s fault', async () => {
    const faults = new FaultStore();
    faults.set({ service: 'api', environment: 'prod', colour: 'blue', errorRate: 0.2 });
    const calls = await fed(world('secondary', { blue: 2, green: 0 }), faults);
    expect(calls).toHaveLength(1);
    const [region, input] = calls[0];
    expect(region).toBe('us-west-2');
    expect(input.Namespace).toBe('Baton/Sandbox');
    // The first tick's interval, 2 s, a datapoint a second.
    const second = [
      ['blue', 'RequestCount', 50],
      ['blue', 'HTTPCode_Target_5XX_Count', 10],
      ['blue', 'TargetResponseTime', 0.08],
    ];
    expect(input.MetricData?.map((d) => [d.Dimensions?.[0].Value, d.MetricName, d.Value])).toEqual([...second, ...second]);
  });

  it('says once that it cannot tell whether a DR copy takes traffic without a DR reader', async () => {
    const lines: string[] = [];
    expect(await fed(undefined, new FaultStore(), lines)).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/^api\/prod \(DR, us-west-2\): cannot feed metrics \(no DR reader/)]);
  });
});

describe('the feeder writing to moto', () => {
  let moto: MotoServer;

  beforeAll(async () => {
    moto = await startMoto();
  });

  afterAll(async () => {
    await moto?.stop();
  });

  const target: FeedTarget = {
    service: 'web',
    environment: 'prod',
    traffic: { type: 'alb', region: 'us-east-1', listenerArn: 'l', targetGroups: { blue: 'b', green: 'g' } },
    metrics: spec,
  };
  const halfAndHalf: TrafficRouter = {
    getWeights: async () => ({ blue: 50, green: 50 }),
    setWeights: async () => ({ syncToken: null }),
    isSynced: async () => true,
    verify: async () => true,
    settleSeconds: async () => 0,
  };
  const wholeSecond = (ms: number) => Math.floor(ms / 1000) * 1000;

  it('shows an injected fault to GetMetricData well under a second after it, without a tick, and counts each second once', async () => {
    const aws = { endpoint: moto.endpoint, credentials: TEST_CREDENTIALS };
    const cloudwatch = createAwsClients(aws).cloudwatch;
    const metrics = createCloudWatchMetrics(cloudwatch);
    const faults = new FaultStore();
    // A tick a minute: after the first, which starts with the feeder, every write is a change's.
    const feeder = startFeeder({ targets: [target], routerFor: () => halfAndHalf, put: cloudWatchPut(aws), faults, intervalMs: 60_000, log: () => undefined, random: half });
    try {
      // The analysis' query: the last 6 s of green, as the sandbox's plan reads it.
      const green = (end?: Date) => metrics.measure(spec, 'green', 6, end);
      await until('the first tick in moto', () => green(), (m) => (m.requests ?? 0) > 0, 10_000, 20);

      const injectedAt = Date.now();
      faults.set({ ...key, errorRate: 0.2 });
      const seen = await until('the fault in GetMetricData', () => green(), (m) => (m.errors ?? 0) > 0, 5_000, 10);
      const shownMs = Date.now() - injectedAt;
      expect(shownMs).toBeLessThan(500);
      expect((seen.errors ?? 0) / (seen.requests ?? 1)).toBeGreaterThan(0.01);
      // A second change within the same second, then the write once that second is over.
      faults.set({ ...key, errorRate: 0.4 });
      const last = wholeSecond(Date.now()) + 1000;
      await new Promise((r) => setTimeout(r, last + 300 - Date.now()));

      // Every second in moto, one by one: 25 requests a colour (50 rps, 50 %), never more.
      const out = await cloudwatch('us-east-1').send(new GetMetricDataCommand({
        StartTime: new Date(wholeSecond(injectedAt) - 10_000),
        EndTime: new Date(last),
        MetricDataQueries: (['blue', 'green'] as const).map((colour) => ({
          Id: colour,
          MetricStat: { Metric: { Namespace: spec.namespace, MetricName: 'RequestCount', Dimensions: [{ Name: 'TargetGroup', Value: `tg/${colour}` }] }, Period: 1, Stat: 'Sum' },
        })),
      }));
      for (const r of out.MetricDataResults ?? []) {
        expect(r.Values).toEqual(Array(10 + (last - wholeSecond(injectedAt)) / 1000).fill(25));
      }
      // And the analysis' window over the fault: 6 s of requests, 20 % and then 40 % of a second's failing.
      const window = await green(new Date(last));
      expect(window.requests).toBe(6 * 25);
      expect(window.errors).toBeGreaterThanOrEqual(5 + 10);
      expect((window.errors ?? 0) / 25).toBeLessThanOrEqual(6 * 0.4);
    } finally {
      await feeder.stop();
    }
  });
});
