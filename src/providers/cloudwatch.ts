// Metrics from CloudWatch: requests, errors and latency for one colour in one GetMetricData call.
// The analysis is three-valued, so "no data" must stay distinguishable from "zero": requests
// are null without datapoints, while a missing error series next to real requests means 0 errors
// (ALBs emit no HTTPCode_Target_5XX_Count when nothing failed). `errors` is the errors metric
// plus every extra error count (target connection errors, the load balancer's own 5xx), each
// also reported on its own in `errorSources`. Percentile latency is the worst period's value,
// so a window that straddles periods never hides a bad minute.
import { GetMetricDataCommand, type CloudWatchClient, type Dimension, type MetricDataQuery, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import type { Colour, ExtraErrorQuery, Measurement, MetricQuery, MetricsSpec } from '../domain/types';
import type { MetricsProvider } from './types';
import { infrastructureMismatch, send } from './aws';

type Series = { timestamps: number[]; values: number[] };

export function createCloudWatchMetrics(clientFor: (region: string) => CloudWatchClient): MetricsProvider {
  return {
    async measure(spec: MetricsSpec, colour: Colour, windowSeconds: number, end: Date = new Date()): Promise<Measurement> {
      const period = periodFor(windowSeconds);
      const dimensions = Object.entries(spec.dimensions[colour]).map(([Name, Value]) => ({ Name, Value }));
      const query = (Id: string, q: MetricQuery, Dimensions: Dimension[] = dimensions): MetricDataQuery => ({
        Id,
        MetricStat: { Metric: { Namespace: spec.namespace, MetricName: q.metricName, Dimensions }, Period: period, Stat: q.statistic },
        ReturnData: true,
      });
      const extras = spec.extraErrors.map((q, i) => ({ id: `extra${i}`, q }));
      const results = await getAll(clientFor(spec.region), {
        queries: [
          query('requests', spec.requests),
          query('errors', spec.errors),
          query('latency', spec.latency),
          ...extras.map(({ id, q }) => query(id, q, extraDimensions(spec, colour, q))),
        ],
        start: new Date(end.getTime() - windowSeconds * 1000),
        end,
      });
      const requests = aggregate(results.requests, spec.requests.statistic);
      const sources = [{ id: 'errors', q: spec.errors as MetricQuery }, ...extras].map(({ id, q }) => ({
        metricName: q.metricName,
        count: aggregate(results[id], q.statistic),
      }));
      const latency = aggregate(results.latency, spec.latency.statistic, results.requests);
      const latencyMs = latency === null ? null : spec.latency.unit === 'seconds' ? latency * 1000 : latency;
      // No datapoints at all, and no requests either: nothing is known about errors.
      if (requests === null && sources.every((s) => s.count === null)) return { requests, errors: null, latencyMs, windowSeconds };
      const errorSources: Record<string, number> = {};
      for (const s of sources) errorSources[s.metricName] = (errorSources[s.metricName] ?? 0) + (s.count ?? 0);
      const errors = Object.values(errorSources).reduce((a, b) => a + b, 0);
      return { requests, errors, latencyMs, windowSeconds, errorSources };
    },
  };
}

/**
 * An extra error count's dimensions: the colour's, or for a load-balancer-wide count only its
 * LoadBalancer dimension (config refuses a spec without one; this names it if one slips through).
 */
function extraDimensions(spec: MetricsSpec, colour: Colour, q: ExtraErrorQuery): Dimension[] {
  const dims = spec.dimensions[colour];
  if (q.scope === 'colour') return Object.entries(dims).map(([Name, Value]) => ({ Name, Value }));
  if (dims.LoadBalancer === undefined) {
    throw infrastructureMismatch(`metric ${q.metricName} is counted per load balancer, but the ${colour} dimensions have no LoadBalancer`);
  }
  return [{ Name: 'LoadBalancer', Value: dims.LoadBalancer }];
}

/**
 * The longest period CloudWatch accepts that fits in the window: 1, 5, 10 or 30 seconds below
 * a minute (high-resolution metrics only), otherwise a whole number of minutes.
 */
export function periodFor(windowSeconds: number): number {
  if (windowSeconds >= 60) return Math.floor(windowSeconds / 60) * 60;
  return [30, 10, 5, 1].find((p) => p <= windowSeconds) ?? 1;
}

async function getAll(
  client: CloudWatchClient,
  req: { queries: MetricDataQuery[]; start: Date; end: Date },
): Promise<Record<string, Series>> {
  const series: Record<string, Series> = {};
  let NextToken: string | undefined;
  do {
    const out = await send(
      client,
      new GetMetricDataCommand({ MetricDataQueries: req.queries, StartTime: req.start, EndTime: req.end, ScanBy: 'TimestampAscending', NextToken }),
    );
    for (const r of out.MetricDataResults ?? []) append(series, r);
    NextToken = out.NextToken;
  } while (NextToken);
  return series;
}

function append(series: Record<string, Series>, r: MetricDataResult): void {
  const s = (series[r.Id!] ??= { timestamps: [], values: [] });
  (r.Timestamps ?? []).forEach((t, i) => {
    const v = r.Values?.[i];
    if (v === undefined || Number.isNaN(v)) return;
    s.timestamps.push(t.getTime());
    s.values.push(v);
  });
}

/** Combines per-period values by what the statistic means; null when there are none. */
function aggregate(s: Series | undefined, statistic: string, weights?: Series): number | null {
  if (!s || s.values.length === 0) return null;
  const stat = statistic.toLowerCase();
  if (stat === 'sum' || stat === 'samplecount') return s.values.reduce((a, b) => a + b, 0);
  if (stat === 'maximum' || /^p\d+(\.\d+)?$/.test(stat)) return Math.max(...s.values);
  if (stat === 'minimum') return Math.min(...s.values);
  return weightedMean(s, weights);
}

/** Mean of per-period values, weighted by the requests in the same period when those are known. */
function weightedMean(s: Series, weights: Series | undefined): number {
  const weightAt = new Map<number, number>();
  weights?.timestamps.forEach((t, i) => weightAt.set(t, weights.values[i]));
  let total = 0;
  let weightSum = 0;
  s.values.forEach((v, i) => {
    const w = weightAt.get(s.timestamps[i]) ?? 0;
    total += v * w;
    weightSum += w;
  });
  if (weightSum > 0) return total / weightSum;
  return s.values.reduce((a, b) => a + b, 0) / s.values.length;
}
