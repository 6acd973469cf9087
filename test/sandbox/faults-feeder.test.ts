// Unit tests for the sandbox's fault store and the feeder's arithmetic (a DR copy's traffic included): no servers.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config';
import { FaultError, FaultStore } from '../../src/sandbox/faults';
import { BASELINE, feedTargets, metricData, startFeeder, trafficSample, type FeedTarget, type PutMetricData } from '../../src/sandbox/feeder';
import type { MetricsSpec } from '../../src/domain/types';
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

  it('refuses a service the sandbox does not have, when it knows its services', () => {
    const store = new FaultStore({ known: [{ service: 'web', environment: 'prod' }] });
    expect(errorOf(() => store.set({ ...key, service: 'wbe', errorRate: 0.3 })).message).toContain("no 'wbe' in 'prod'");
    expect(store.set({ ...key, errorRate: 0.3 }).service).toBe('web');
  });
});

const half = () => 0.5; // no jitter

describe('trafficSample', () => {
  it('splits requests by weight over the interval', () => {
    expect(trafficSample({ weight: 100, intervalMs: 2000, totalRps: 50, fault: null, random: half }).requests).toBe(100);
    expect(trafficSample({ weight: 10, intervalMs: 2000, totalRps: 50, fault: null, random: half }).requests).toBe(10);
    expect(trafficSample({ weight: 1, intervalMs: 2000, totalRps: 50, fault: null, random: half }).requests).toBe(1);
  });

  it('keeps a healthy colour free of 5xx at sandbox volumes and near the baseline latency', () => {
    const s = trafficSample({ weight: 100, intervalMs: 2000, totalRps: 50, fault: null, random: half });
    expect(s.errors).toBe(0);
    expect(s.latencyMs).toBe(BASELINE.latencyMs);
    const high = trafficSample({ weight: 100, intervalMs: 2000, totalRps: 50, fault: null, random: () => 1 });
    expect(high.latencyMs).toBeCloseTo(BASELINE.latencyMs * (1 + BASELINE.jitter));
  });

  it('shows the baseline error rate at real volumes', () => {
    expect(trafficSample({ weight: 100, intervalMs: 60_000, totalRps: 500, fault: null, random: half }).errors).toBe(60);
  });

  it('applies a fault’s error rate and added latency', () => {
    const s = trafficSample({ weight: 10, intervalMs: 2000, totalRps: 50, fault: { errorRate: 0.3, latencyMs: 600 }, random: half });
    expect(s).toEqual({ requests: 10, errors: 3, latencyMs: 680 });
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

  it('writes only the colours that take traffic, and survives a failing put', async () => {
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
    await feeder.tick();
    fail = false;
    await feeder.tick();
    await feeder.stop();
    expect(lines).toEqual([expect.stringContaining('moto is down'), 'web/prod: writing metrics again']);
    const [region, input] = calls[calls.length - 1];
    expect(region).toBe('us-east-1');
    expect(input.Namespace).toBe('AWS/ApplicationELB');
    expect(input.MetricData?.map((d) => [d.Dimensions?.[0].Value, d.MetricName, d.Value])).toEqual([
      ['tg/blue', 'RequestCount', 90],
      ['tg/blue', 'HTTPCode_Target_5XX_Count', 0],
      ['tg/blue', 'TargetResponseTime', 0.08],
      ['tg/green', 'RequestCount', 10],
      ['tg/green', 'HTTPCode_Target_5XX_Count', 0],
      ['tg/green', 'TargetResponseTime', 0.08],
    ]);
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
    expect(input.MetricData?.map((d) => [d.Dimensions?.[0].Value, d.MetricName, d.Value])).toEqual([
      ['blue', 'RequestCount', 100],
      ['blue', 'HTTPCode_Target_5XX_Count', 20],
      ['blue', 'TargetResponseTime', 0.08],
    ]);
  });

  it('says once that it cannot tell whether a DR copy takes traffic without a DR reader', async () => {
    const lines: string[] = [];
    expect(await fed(undefined, new FaultStore(), lines)).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/^api\/prod \(DR, us-west-2\): cannot feed metrics \(no DR reader/)]);
  });
});
