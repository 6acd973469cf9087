import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { startMoto } from '../harness/servers';
import { motoClients, type MotoServer } from '../harness/aws';
import { createCloudWatchMetrics, periodFor } from '../../src/providers/cloudwatch';
import type { AwsClients } from '../../src/providers/aws';
import type { Colour, MetricsSpec } from '../../src/domain/types';

const REGION = 'us-east-1';

/**
 * Each test uses its own namespace and, since moto 5.2.5 ignores the namespace of a query that
 * has dimensions, its own dimension values too.
 */
function albSpec(namespace: string, latencyStatistic = 'Average'): MetricsSpec {
  const dims = (colour: Colour) => ({ LoadBalancer: `app/${namespace}/1`, TargetGroup: `targetgroup/${namespace}-${colour}/1` });
  return {
    type: 'cloudwatch',
    region: REGION,
    namespace,
    requests: { metricName: 'RequestCount', statistic: 'Sum' },
    errors: { metricName: 'HTTPCode_Target_5XX_Count', statistic: 'Sum' },
    latency: { metricName: 'TargetResponseTime', statistic: latencyStatistic, unit: 'seconds' },
    extraErrors: [],
    dimensions: { blue: dims('blue'), green: dims('green') },
  };
}

/** albSpec plus the errors an ALB counts besides its targets' 5xx, as config adds them by default. */
function albSpecWithExtras(namespace: string): MetricsSpec {
  return {
    ...albSpec(namespace),
    extraErrors: [
      { metricName: 'TargetConnectionErrorCount', statistic: 'Sum', scope: 'colour' },
      { metricName: 'HTTPCode_ELB_5XX_Count', statistic: 'Sum', scope: 'loadBalancer' },
    ],
  };
}

/** A minute boundary a little in the past, so every datapoint of a test sits in a known window. */
const END = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000);
const minutesBefore = (m: number) => new Date(END.getTime() - m * 60_000);

describe('CloudWatch metrics against moto', () => {
  let moto: MotoServer;
  let aws: AwsClients;

  const put = async (spec: MetricsSpec, colour: Colour, points: { metric: 'requests' | 'errors' | 'latency'; at: Date; value: number }[]) => {
    const MetricData: MetricDatum[] = points.map((p) => ({
      MetricName: spec[p.metric].metricName,
      Dimensions: Object.entries(spec.dimensions[colour]).map(([Name, Value]) => ({ Name, Value })),
      Timestamp: p.at,
      Value: p.value,
    }));
    await aws.cloudwatch(REGION).send(new PutMetricDataCommand({ Namespace: spec.namespace, MetricData }));
  };
  /** One datapoint of any metric, with exactly the dimensions given. */
  const putRaw = async (namespace: string, metricName: string, dimensions: Record<string, string>, at: Date, value: number) => {
    const Dimensions = Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value }));
    await aws.cloudwatch(REGION).send(new PutMetricDataCommand({ Namespace: namespace, MetricData: [{ MetricName: metricName, Dimensions, Timestamp: at, Value: value }] }));
  };

  beforeAll(async () => {
    moto = await startMoto();
    aws = motoClients(moto);
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('measures requests, errors and latency in ms for one colour over the window ending at `end`', async () => {
    const spec = albSpec('Test/Window');
    await put(spec, 'green', [
      { metric: 'requests', at: minutesBefore(4), value: 100 },
      { metric: 'requests', at: minutesBefore(2), value: 50 },
      { metric: 'errors', at: minutesBefore(2), value: 3 },
      { metric: 'latency', at: minutesBefore(4), value: 0.2 },
      { metric: 'latency', at: minutesBefore(2), value: 0.2 },
      // Outside the window, and on the other colour: neither may count.
      { metric: 'requests', at: minutesBefore(9), value: 1000 },
    ]);
    await put(spec, 'blue', [{ metric: 'requests', at: minutesBefore(3), value: 7 }]);

    const m = await createCloudWatchMetrics(aws.cloudwatch).measure(spec, 'green', 300, END);
    expect(m).toEqual({ requests: 150, errors: 3, latencyMs: expect.closeTo(200, 6), windowSeconds: 300, errorSources: { HTTPCode_Target_5XX_Count: 3 } });
  });

  it('answers requests null when there are no datapoints at all', async () => {
    const m = await createCloudWatchMetrics(aws.cloudwatch).measure(albSpec('Test/Empty'), 'blue', 120, END);
    expect(m).toEqual({ requests: null, errors: null, latencyMs: null, windowSeconds: 120 });
  });

  it('counts 0 errors when there are requests but no 5xx datapoints', async () => {
    const spec = albSpec('Test/NoErrors');
    await put(spec, 'blue', [{ metric: 'requests', at: minutesBefore(1), value: 40 }]);
    const m = await createCloudWatchMetrics(aws.cloudwatch).measure(spec, 'blue', 120, END);
    expect(m).toMatchObject({ requests: 40, errors: 0, latencyMs: null });
  });

  it("adds the colour's target connection errors and the load balancer's own 5xx to its errors, and says where each came from", async () => {
    const spec = albSpecWithExtras('Test/Extra');
    await put(spec, 'green', [
      { metric: 'requests', at: minutesBefore(2), value: 200 },
      { metric: 'errors', at: minutesBefore(2), value: 3 },
    ]);
    await putRaw(spec.namespace, 'TargetConnectionErrorCount', spec.dimensions.green, minutesBefore(2), 2);
    await putRaw(spec.namespace, 'TargetConnectionErrorCount', spec.dimensions.green, minutesBefore(1), 1);
    await putRaw(spec.namespace, 'TargetConnectionErrorCount', spec.dimensions.blue, minutesBefore(2), 50); // the other colour's
    await putRaw(spec.namespace, 'HTTPCode_ELB_5XX_Count', { LoadBalancer: spec.dimensions.green.LoadBalancer }, minutesBefore(3), 4);

    const m = await createCloudWatchMetrics(aws.cloudwatch).measure(spec, 'green', 300, END);
    expect(m).toMatchObject({
      requests: 200,
      errors: 3 + 3 + 4,
      errorSources: { HTTPCode_Target_5XX_Count: 3, TargetConnectionErrorCount: 3, HTTPCode_ELB_5XX_Count: 4 },
    });

    const without = await createCloudWatchMetrics(aws.cloudwatch).measure({ ...spec, extraErrors: [] }, 'green', 300, END);
    expect(without).toMatchObject({ requests: 200, errors: 3, errorSources: { HTTPCode_Target_5XX_Count: 3 } });
  });

  it('counts an extra error series without datapoints as 0 when there are requests', async () => {
    const spec = albSpecWithExtras('Test/ExtraMissing');
    await put(spec, 'blue', [{ metric: 'requests', at: minutesBefore(1), value: 40 }]);
    await putRaw(spec.namespace, 'HTTPCode_ELB_5XX_Count', { LoadBalancer: spec.dimensions.blue.LoadBalancer }, minutesBefore(1), 2);
    const m = await createCloudWatchMetrics(aws.cloudwatch).measure(spec, 'blue', 120, END);
    expect(m).toMatchObject({
      requests: 40,
      errors: 2,
      errorSources: { HTTPCode_Target_5XX_Count: 0, TargetConnectionErrorCount: 0, HTTPCode_ELB_5XX_Count: 2 },
    });
  });

  it('leaves errors null, with no sources, when nothing at all was published', async () => {
    const m = await createCloudWatchMetrics(aws.cloudwatch).measure(albSpecWithExtras('Test/ExtraEmpty'), 'green', 120, END);
    expect(m).toEqual({ requests: null, errors: null, latencyMs: null, windowSeconds: 120 });
  });

  it('reads a sandbox-style metric already in milliseconds without converting it', async () => {
    const spec: MetricsSpec = { ...albSpec('Test/Ms'), latency: { metricName: 'LatencyMs', statistic: 'Average', unit: 'milliseconds' } };
    await put(spec, 'blue', [
      { metric: 'requests', at: minutesBefore(1), value: 10 },
      { metric: 'latency', at: minutesBefore(1), value: 120 },
    ]);
    expect((await createCloudWatchMetrics(aws.cloudwatch).measure(spec, 'blue', 120, END)).latencyMs).toBeCloseTo(120, 6);
  });
});

describe('CloudWatch aggregation across periods', () => {
  /** A client that answers one canned GetMetricData page, as CloudWatch would for several periods. */
  const canned = (series: Record<string, number[]>): CloudWatchClient => {
    const at = [0, 60_000].map((ms) => new Date(END.getTime() - 120_000 + ms));
    const MetricDataResults = Object.entries(series).map(([Id, Values]) => ({ Id, Timestamps: at.slice(0, Values.length), Values }));
    return { send: async () => ({ MetricDataResults }) } as unknown as CloudWatchClient;
  };

  it('takes the worst period for a percentile latency', async () => {
    const client = canned({ requests: [10, 10], errors: [], latency: [0.1, 0.4] });
    const m = await createCloudWatchMetrics(() => client).measure(albSpec('x', 'p95'), 'blue', 150, END);
    expect(m).toMatchObject({ requests: 20, errors: 0, latencyMs: 400 });
  });

  it('weights an average latency by the requests in each period', async () => {
    const client = canned({ requests: [30, 10], errors: [1], latency: [0.1, 0.5] });
    const m = await createCloudWatchMetrics(() => client).measure(albSpec('x'), 'blue', 150, END);
    expect(m.latencyMs).toBeCloseTo(200, 6);
  });

  it('picks a period CloudWatch accepts that fits in the window', () => {
    expect([1, 7, 45, 60, 150, 300].map(periodFor)).toEqual([1, 5, 30, 60, 120, 300]);
  });
});
