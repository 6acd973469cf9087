// The sandbox's stand-in for real traffic: every interval it reads each target's traffic
// weights (from moto, as a deployment left them) and writes CloudWatch datapoints for every
// colour that takes traffic — requests, 5xx and latency, shaped by the injected faults — so
// the deployment's analysis reads the same metrics it would on AWS. It also publishes each DR
// read replica's ReplicaLag (as RDS does every minute), so disaster-recovery readiness reads it.
import { PutMetricDataCommand, type MetricDatum, type PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import type { Fault, FaultStore } from './faults';
import { drSpecs, type BatonConfig } from '../config';
import type { RdsInstanceRef } from '../domain/failover';
import { createAwsClients, type AwsOptions } from '../providers/aws';
import type { TrafficRouterFactory } from '../providers/types';
import { COLOURS, type Colour, type MetricsSpec, type TrafficRouterSpec } from '../domain/types';

export interface FeedTarget {
  service: string;
  environment: string;
  traffic: TrafficRouterSpec;
  metrics: MetricsSpec;
}

/** Writes one PutMetricData request in `region`. */
export type PutMetricData = (region: string, input: PutMetricDataCommandInput) => Promise<void>;

/** Every service and environment of a config, as the feeder needs them. */
export function feedTargets(config: BatonConfig): FeedTarget[] {
  return Object.values(config.services).flatMap((s) =>
    Object.entries(s.environments).map(([environment, e]) => ({ service: s.name, environment, traffic: e.traffic, metrics: e.metrics })),
  );
}

/** Every DR read replica of a config: the feeder publishes their ReplicaLag. */
export function feedReplicas(config: BatonConfig): RdsInstanceRef[] {
  return drSpecs(config).map((d) => d.database.replica);
}

/** A healthy replica in the sandbox lags about a second behind its primary. */
export const SANDBOX_REPLICA_LAG_SECONDS = 1;

/** The ReplicaLag datapoint RDS would publish for a replica. */
export function replicaLagDatum(replica: RdsInstanceRef, seconds: number, at: Date): MetricDatum {
  return { MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: replica.instanceId }], Timestamp: at, Value: seconds, Unit: 'Seconds' };
}

/** PutMetricData through the AWS SDK, with the same per-region client settings as the providers. */
export function cloudWatchPut(aws: AwsOptions): PutMetricData {
  const cloudwatch = createAwsClients(aws).cloudwatch;
  return async (region, input) => {
    await cloudwatch(region).send(new PutMetricDataCommand(input));
  };
}

/** A healthy colour: a few 5xx per thousand, about 80 ms. */
export const BASELINE = { errorRate: 0.002, latencyMs: 80, jitter: 0.1 } as const;

export interface TrafficSample {
  requests: number;
  errors: number;
  latencyMs: number;
}

export interface SampleInput {
  /** Percent of the target's traffic this colour takes. */
  weight: number;
  intervalMs: number;
  /** Requests per second across both colours. */
  totalRps: number;
  fault: Pick<Fault, 'errorRate' | 'latencyMs'> | null;
  /** 0..1; picks the latency jitter. */
  random: () => number;
}

/**
 * What one colour served during one interval. Errors are rounded down: at sandbox traffic a
 * single stray 5xx in a window of a few dozen requests would read as a breach of a 1 %
 * threshold, so the healthy baseline only shows at real volumes, while an injected fault shows at once.
 */
export function trafficSample(input: SampleInput): TrafficSample {
  const requests = Math.round((input.totalRps * input.intervalMs * input.weight) / 100_000);
  const errorRate = input.fault ? Math.max(input.fault.errorRate, BASELINE.errorRate) : BASELINE.errorRate;
  const errors = Math.floor(requests * errorRate + 1e-9);
  const jitter = (input.random() * 2 - 1) * BASELINE.jitter;
  const latencyMs = BASELINE.latencyMs * (1 + jitter) + (input.fault?.latencyMs ?? 0);
  return { requests, errors, latencyMs };
}

/** The datapoints for one colour's sample, in the target's namespace, names, dimensions and units. */
export function metricData(spec: MetricsSpec, colour: Colour, sample: TrafficSample, at: Date): MetricDatum[] {
  const Dimensions = Object.entries(spec.dimensions[colour]).map(([Name, Value]) => ({ Name, Value }));
  const seconds = spec.latency.unit === 'seconds';
  return [
    { MetricName: spec.requests.metricName, Dimensions, Timestamp: at, Value: sample.requests, Unit: 'Count' },
    { MetricName: spec.errors.metricName, Dimensions, Timestamp: at, Value: sample.errors, Unit: 'Count' },
    {
      MetricName: spec.latency.metricName,
      Dimensions,
      Timestamp: at,
      Value: seconds ? sample.latencyMs / 1000 : sample.latencyMs,
      Unit: seconds ? 'Seconds' : 'Milliseconds',
    },
  ];
}

export interface FeederOptions {
  targets: FeedTarget[];
  routerFor: TrafficRouterFactory;
  put: PutMetricData;
  faults: FaultStore;
  /** Read replicas whose ReplicaLag to publish (SANDBOX_REPLICA_LAG_SECONDS), as RDS would. */
  replicas?: RdsInstanceRef[];
  intervalMs?: number;
  totalRps?: number;
  log?: (line: string) => void;
  random?: () => number;
}

export interface Feeder {
  /** Feeds one interval for every target now. */
  tick(): Promise<void>;
  /** Stops the loop and waits for a tick in flight. */
  stop(): Promise<void>;
}

export function startFeeder(opts: FeederOptions): Feeder {
  const intervalMs = opts.intervalMs ?? 2000;
  const log = opts.log ?? ((line: string) => console.log(`[feeder] ${line}`));
  const failing = new Set<string>();

  // Logs a target's first failure and its recovery, not every tick in between.
  function report(name: string, err: unknown): void {
    if (err === null) {
      if (failing.delete(name)) log(`${name}: writing metrics again`);
      return;
    }
    if (failing.has(name)) return;
    failing.add(name);
    log(`${name}: cannot feed metrics (${(err as Error).message ?? String(err)}); retrying every ${intervalMs} ms`);
  }

  async function feed(target: FeedTarget, at: Date): Promise<void> {
    const weights = await opts.routerFor(target.traffic).getWeights();
    const data = COLOURS.filter((c) => weights[c] > 0).flatMap((colour) => {
      const fault = opts.faults.get(target.service, target.environment, colour);
      const sample = trafficSample({ weight: weights[colour], intervalMs, totalRps: opts.totalRps ?? 50, fault, random: opts.random ?? Math.random });
      return metricData(target.metrics, colour, sample, at);
    });
    if (data.length) await opts.put(target.metrics.region, { Namespace: target.metrics.namespace, MetricData: data });
  }

  async function feedReplica(replica: RdsInstanceRef, at: Date): Promise<void> {
    await opts.put(replica.region, { Namespace: 'AWS/RDS', MetricData: [replicaLagDatum(replica, SANDBOX_REPLICA_LAG_SECONDS, at)] });
  }

  async function tick(): Promise<void> {
    const at = new Date();
    const outcome = (name: string, fed: Promise<void>) => fed.then(() => report(name, null), (err: unknown) => report(name, err));
    await Promise.all([
      ...opts.targets.map((t) => outcome(`${t.service}/${t.environment}`, feed(t, at))),
      ...(opts.replicas ?? []).map((r) => outcome(`replica ${r.instanceId} (${r.region})`, feedReplica(r, at))),
    ]);
  }

  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    inFlight = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs);
    });
  };
  loop();

  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
