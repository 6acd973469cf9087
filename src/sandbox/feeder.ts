// The sandbox's stand-in for real traffic: every interval it reads each target's traffic
// weights (from moto, as a deployment left them) and writes CloudWatch datapoints for every
// colour that takes traffic — requests, 5xx and latency, shaped by the injected faults — so
// the deployment's analysis reads the same metrics it would on AWS. A DR copy with metrics takes
// traffic while its failover record is PRIMARY, on the colours its services run tasks of, so a
// failover's monitoring analyses it as it would on AWS. It also publishes the
// ReplicaLag of every RDS read replica it finds (as RDS does every minute), so readiness and
// failovers read it: about a second, 0 once the source is fenced (writes stopped, the replica
// caught up), and frozen at its last value while the source's region is out (replication stopped).
// It talks to moto directly: a region outage (the region gate) never silences it.
//
// Traffic is counted by whole seconds: one datapoint per metric and second, stamped at the
// second's start, each second's requests reported once, so however many writes there are a
// window holds each second's requests once (error rates and minRequests read right). moto serves
// a query only the seconds that are over (it drops the milliseconds of StartTime and EndTime), so
// the newest second anyone can see is the one that last ended; ticks run just after a second
// ends and report it. A fault change (the fault store tells the feeder) is written at once: the
// seconds over and not yet reported with the new fault, and, when the last one was reported
// already, the errors the new fault adds to it, as an errors-only datapoint (its requests stay
// counted once). So an error-rate fault shows as soon as that PutMetricData is written, from the
// second before it (1–2 s early, or up to a tick interval with ticks longer than a second);
// healing it, a latency fault, or a fault on a colour that took no traffic in that second (a
// shift just made) shows once the second it happened in is over, which the change reports then.
import { PutMetricDataCommand, type MetricDatum, type PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, type DBInstance } from '@aws-sdk/client-rds';
import type { Fault, FaultStore } from './faults';
import type { BatonConfig } from '../config';
import type { FailoverDns, RdsInstanceRef } from '../domain/failover';
import { createAwsClients, type AwsOptions } from '../providers/aws';
import type { DrInspector, TrafficRouterFactory } from '../providers/types';
import { COLOURS, type Colour, type ComputeTarget, type MetricsSpec, type TrafficRouterSpec } from '../domain/types';
import { FENCED_TAG, PROMOTED_FROM_TAG } from '../providers/dr-ops';

/** A DR copy's traffic: none unless its failover record is PRIMARY, then its colours' share of the tasks running. */
export interface FailoverTraffic {
  type: 'failover';
  dns: FailoverDns;
  /** The DR region's record. */
  setIdentifier: string;
  compute: ComputeTarget;
}

export interface FeedTarget {
  service: string;
  environment: string;
  /** Where the colours' shares of traffic are read: the environment's router, or a DR copy's failover record and services. */
  traffic: TrafficRouterSpec | FailoverTraffic;
  metrics: MetricsSpec;
}

/** Writes one PutMetricData request in `region`. */
export type PutMetricData = (region: string, input: PutMetricDataCommandInput) => Promise<void>;

/** Every service and environment of a config, and every DR copy with metrics, as the feeder needs them. */
export function feedTargets(config: BatonConfig): FeedTarget[] {
  return Object.values(config.services).flatMap((s) => [
    ...Object.entries(s.environments).map(([environment, e]) => ({ service: s.name, environment, traffic: e.traffic, metrics: e.metrics })),
    ...Object.values(s.dr ?? {}).flatMap((d) => d.metrics
      ? [{ service: s.name, environment: d.environment, traffic: { type: 'failover' as const, dns: d.dns, setIdentifier: d.dns.secondarySetIdentifier, compute: d.compute }, metrics: d.metrics }]
      : []),
  ]);
}

/** Each colour's share of the tasks running, in percent (none running: no share). */
function taskShares(running: Record<Colour, number>): Record<Colour, number> {
  const total = running.blue + running.green;
  return total === 0 ? { blue: 0, green: 0 } : { blue: (100 * running.blue) / total, green: (100 * running.green) / total };
}

/** A healthy replica in the sandbox lags about a second behind its primary. */
export const SANDBOX_REPLICA_LAG_SECONDS = 1;

// The feeder reads the tags of the failover's writes (src/providers/dr-ops.ts): a fenced source's
// replicas catch up (lag 0); a promoted instance (moto still names its source) gets no lag.
export { FENCED_TAG, PROMOTED_FROM_TAG };

/** An RDS instance as DescribeDBInstances shows it, as much as the feeder needs. */
export interface RdsInstanceSeen {
  region: string;
  instanceId: string;
  arn: string | null;
  /** ReadReplicaSourceDBInstanceIdentifier: an id in the same region, an ARN across regions; null: standalone. */
  sourceIdentifier: string | null;
  /** ReadReplicaDBInstanceIdentifiers: its replicas, by id (same region) or ARN. */
  replicaIdentifiers: string[];
  /** StatusInfos has a `read replication` entry (real RDS, on every replica; moto, never). */
  replicating: boolean;
  tags: Record<string, string>;
}

/** The RDS instances of one region. */
export type DescribeRdsInstances = (region: string) => Promise<RdsInstanceSeen[]>;

/** Where the feeder looks for read replicas, every tick. */
export interface ReplicaWatch {
  /** The regions whose RDS instances it describes (the config's regions). */
  regions: string[];
  describe: DescribeRdsInstances;
  /** Whether a region is out (the region gate): replication from a source there has stopped. */
  isOut?: (region: string) => boolean;
}

export interface ReadReplica {
  replica: RdsInstanceRef;
  source: RdsInstanceRef;
  /** The source carries FENCED_TAG: no more writes, so the replica has caught up. */
  sourceFenced: boolean;
}

/** The source an instance names: `arn:aws:rds:<region>:<account>:db:<id>` across regions, an id in its own. */
function sourceOf(instance: RdsInstanceSeen): RdsInstanceRef | null {
  if (!instance.sourceIdentifier) return null;
  const arn = /^arn:[^:]+:rds:([^:]+):[^:]*:db:(.+)$/.exec(instance.sourceIdentifier);
  return arn ? { region: arn[1], instanceId: arn[2] } : { region: instance.region, instanceId: instance.sourceIdentifier };
}

/**
 * The read replicas among `instances`, as RDS counts them: an instance that names a source,
 * unless it was promoted from that source (PROMOTED_FROM_TAG), or its source (in a region that
 * was described) is gone or no longer lists it (RDS promotes a replica whose source is deleted;
 * after a failback, a promoted instance names as its source a new instance that is itself a
 * replica of it).
 */
export function readReplicas(instances: RdsInstanceSeen[], described: readonly string[]): ReadReplica[] {
  const byKey = new Map(instances.map((i) => [`${i.region}/${i.instanceId}`, i]));
  const out: ReadReplica[] = [];
  for (const instance of instances) {
    const source = sourceOf(instance);
    if (!source || (!instance.replicating && instance.tags[PROMOTED_FROM_TAG] === instance.sourceIdentifier)) continue;
    const seen = byKey.get(`${source.region}/${source.instanceId}`);
    if (described.includes(source.region)) {
      const names = new Set([instance.instanceId, instance.arn].filter(Boolean));
      if (!seen?.replicaIdentifiers.some((r) => names.has(r))) continue;
    }
    out.push({ replica: { region: instance.region, instanceId: instance.instanceId }, source, sourceFenced: seen ? FENCED_TAG in seen.tags : false });
  }
  return out;
}

/**
 * The ReplicaLag to publish: while the source's region is out, replication has stopped and the
 * lag stays what it was (`last`: the data at risk is what had not been replicated); else 0 when
 * the source is fenced, the usual second otherwise.
 */
export function replicaLagSeconds(replica: ReadReplica, sourceOut: boolean, last: number | undefined): number {
  if (sourceOut) return last ?? SANDBOX_REPLICA_LAG_SECONDS;
  return replica.sourceFenced ? 0 : SANDBOX_REPLICA_LAG_SECONDS;
}

function seen(region: string, d: DBInstance): RdsInstanceSeen {
  return {
    region,
    instanceId: d.DBInstanceIdentifier ?? '',
    arn: d.DBInstanceArn ?? null,
    sourceIdentifier: d.ReadReplicaSourceDBInstanceIdentifier || null,
    replicaIdentifiers: d.ReadReplicaDBInstanceIdentifiers ?? [],
    replicating: (d.StatusInfos ?? []).some((i) => i.StatusType === 'read replication'),
    tags: Object.fromEntries((d.TagList ?? []).filter((t) => t.Key).map((t) => [t.Key!, t.Value ?? ''])),
  };
}

/** DescribeDBInstances through the AWS SDK, every page, with the same per-region client settings as the providers. */
export function rdsDescribe(aws: AwsOptions): DescribeRdsInstances {
  const rds = createAwsClients(aws).rds;
  return async (region) => {
    const found: RdsInstanceSeen[] = [];
    let marker: string | undefined;
    do {
      const page = await rds(region).send(new DescribeDBInstancesCommand({ Marker: marker }));
      for (const d of page.DBInstances ?? []) found.push(seen(region, d));
      marker = page.Marker;
    } while (marker);
    return found;
  };
}

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
  /** The second whose traffic this is, in whole seconds since the epoch. */
  second: number;
  /** Requests per second across both colours. */
  totalRps: number;
  fault: Pick<Fault, 'errorRate' | 'latencyMs'> | null;
  /** 0..1; picks the latency jitter. */
  random: () => number;
}

/**
 * A colour's requests in one second at `perSecond` a second, rounded so that any run of
 * seconds adds up to the rate: 0.5 a second gives 0, 1, 0, 1, ... rather than 1 every second.
 */
export function requestsIn(second: number, perSecond: number): number {
  return Math.round(perSecond * (second + 1)) - Math.round(perSecond * second);
}

/**
 * A colour's 5xx in one second, of its `requests` at `perSecond` a second. The healthy baseline's
 * are rounded down: at sandbox traffic a single stray 5xx in a window of a few dozen requests
 * would read as a breach of a 1 % threshold, so the baseline only shows at real volumes. An
 * injected fault's are rounded like requests (see requestsIn), so any run of seconds shows its
 * rate: 30 % of 5 requests a second is 1, 2, 1, 2, ..., not 1 every second (20 %).
 */
export function errorsIn(second: number, perSecond: number, requests: number, fault: Pick<Fault, 'errorRate'> | null): number {
  if (!fault || fault.errorRate <= BASELINE.errorRate) return Math.floor(requests * BASELINE.errorRate + 1e-9);
  return Math.min(requests, requestsIn(second, perSecond * fault.errorRate));
}

/** What one colour served during one second: its share of the requests, their 5xx (see errorsIn) and latency. */
export function trafficSample(input: SampleInput): TrafficSample {
  const perSecond = (input.totalRps * input.weight) / 100;
  const requests = requestsIn(input.second, perSecond);
  const jitter = (input.random() * 2 - 1) * BASELINE.jitter;
  const latencyMs = BASELINE.latencyMs * (1 + jitter) + (input.fault?.latencyMs ?? 0);
  return { requests, errors: errorsIn(input.second, perSecond, requests, input.fault), latencyMs };
}

const dimensionsOf = (spec: MetricsSpec, colour: Colour) => Object.entries(spec.dimensions[colour]).map(([Name, Value]) => ({ Name, Value }));

/** A colour's errors datapoint alone: what a fault change adds to a second already reported. */
export function errorsDatum(spec: MetricsSpec, colour: Colour, errors: number, at: Date): MetricDatum {
  return { MetricName: spec.errors.metricName, Dimensions: dimensionsOf(spec, colour), Timestamp: at, Value: errors, Unit: 'Count' };
}

/** The datapoints for one colour's sample, in the target's namespace, names, dimensions and units. */
export function metricData(spec: MetricsSpec, colour: Colour, sample: TrafficSample, at: Date): MetricDatum[] {
  const Dimensions = dimensionsOf(spec, colour);
  const seconds = spec.latency.unit === 'seconds';
  return [
    { MetricName: spec.requests.metricName, Dimensions, Timestamp: at, Value: sample.requests, Unit: 'Count' },
    errorsDatum(spec, colour, sample.errors, at),
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
  /** Reads a DR copy's failover records and services (targets with failover traffic). */
  dr?: Pick<DrInspector, 'compute' | 'failoverRecords'>;
  put: PutMetricData;
  /** The injected faults; the feeder writes a target's metrics at once when one of its colours' faults changes. */
  faults: FaultStore;
  /** Where to find the read replicas whose ReplicaLag to publish, as RDS would; none when absent. */
  replicas?: ReplicaWatch;
  /** How often the regular ticks run, in whole seconds (rounded up). */
  intervalMs?: number;
  totalRps?: number;
  log?: (line: string) => void;
  random?: () => number;
}

export interface Feeder {
  /** Reports every target's seconds that are over and the replicas' lag, now. */
  tick(): Promise<void>;
  /** Stops the loop and the writes for fault changes, and waits for the writes in flight. */
  stop(): Promise<void>;
}

const SECOND_MS = 1000;
/** The most seconds one write reports: 6 datapoints a second with both colours, and PutMetricData takes 1 000. Older seconds not yet reported (the feeder stalled or moto refused) are lost. */
const MAX_SECONDS_PER_WRITE = 150;
/** Timers aim this far past a second's start, so that the clock reads the new second when they fire. */
const PAST_BOUNDARY_MS = 10;

const nameOf = (t: FeedTarget) => `${t.service}/${t.environment}${t.traffic.type === 'failover' ? ` (DR, ${t.metrics.region})` : ''}`;

/** The last second a target reported: each colour's rate, requests and the errors written for them so far. */
interface LastSecond {
  second: number;
  colours: Array<{ colour: Colour; perSecond: number; requests: number; errors: number }>;
}

export function startFeeder(opts: FeederOptions): Feeder {
  const intervalSeconds = Math.max(1, Math.ceil((opts.intervalMs ?? 2000) / SECOND_MS));
  const intervalMs = intervalSeconds * SECOND_MS;
  const totalRps = opts.totalRps ?? 50;
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

  async function weightsOf(traffic: FeedTarget['traffic']): Promise<Record<Colour, number>> {
    if (traffic.type !== 'failover') return opts.routerFor(traffic).getWeights();
    if (!opts.dr) throw new Error('no DR reader to tell whether the DR copy takes traffic');
    const records = await opts.dr.failoverRecords(traffic.dns, traffic.compute.region);
    if (!records.some((r) => r.setIdentifier === traffic.setIdentifier && r.failover === 'PRIMARY')) return { blue: 0, green: 0 };
    const { services } = await opts.dr.compute(traffic.compute);
    return taskShares({ blue: services.blue.runningCount, green: services.green.runningCount });
  }

  /** Per target: the first second it has not reported (null before its first write), the last it did, and its writes, one after another. */
  const lanes = new Map(opts.targets.map((t) => [t, { next: null as number | null, last: null as LastSecond | null, writes: Promise.resolve() }]));

  /**
   * Reports the target's seconds before `until` (whole seconds since the epoch) not reported yet,
   * with today's weights and faults; with `amend`, when there are none, adds to the last second
   * reported the errors today's faults give its requests beyond those written (never fewer: a
   * count once written stays). One PutMetricData; a target's first write reports the last
   * interval. Only a write that succeeded moves the target on, so the next retries a failed one.
   */
  async function feed(target: FeedTarget, until: number, amend: boolean): Promise<void> {
    const lane = lanes.get(target)!;
    lane.next ??= until - intervalSeconds;
    const from = Math.max(lane.next, until - MAX_SECONDS_PER_WRITE);
    const faultOf = (colour: Colour) => opts.faults.get(target.service, target.environment, colour);
    const data: MetricDatum[] = [];
    let last = lane.last;
    if (from < until) {
      const weights = await weightsOf(target.traffic);
      for (let second = from; second < until; second++) {
        last = { second, colours: [] };
        for (const colour of COLOURS.filter((c) => weights[c] > 0)) {
          const sample = trafficSample({ weight: weights[colour], second, totalRps, fault: faultOf(colour), random: opts.random ?? Math.random });
          data.push(...metricData(target.metrics, colour, sample, new Date(second * SECOND_MS)));
          last.colours.push({ colour, perSecond: (totalRps * weights[colour]) / 100, requests: sample.requests, errors: sample.errors });
        }
      }
    } else if (amend && lane.last?.second === until - 1) {
      const { second, colours } = lane.last;
      const at = new Date(second * SECOND_MS);
      last = {
        second,
        colours: colours.map((c) => {
          const errors = errorsIn(second, c.perSecond, c.requests, faultOf(c.colour));
          if (errors <= c.errors) return c;
          data.push(errorsDatum(target.metrics, c.colour, errors - c.errors, at));
          return { ...c, errors };
        }),
      };
    }
    if (data.length) await opts.put(target.metrics.region, { Namespace: target.metrics.namespace, MetricData: data });
    lane.next = Math.max(lane.next, until);
    lane.last = last;
  }

  const outcome = (name: string, fed: Promise<void>) => fed.then(() => report(name, null), (err: unknown) => report(name, err));

  /**
   * Queues a write of the target after the one in flight, so no two run at once and none reports
   * a second another has; it reads the clock when it starts, and reports every second over. A
   * fault change's write also amends the last second reported (see feed).
   */
  function write(target: FeedTarget, why: 'tick' | 'fault change'): Promise<void> {
    const lane = lanes.get(target)!;
    const written = lane.writes.then(() => feed(target, Math.floor(Date.now() / SECOND_MS), why === 'fault change'));
    lane.writes = written.catch(() => undefined);
    return outcome(nameOf(target), written);
  }

  /** The lag last published per replica (`<region>/<id>`): what an outage of its source's region freezes. */
  const lastLag = new Map<string, number>();

  async function feedReplicas(watch: ReplicaWatch, at: Date): Promise<void> {
    const instances: RdsInstanceSeen[] = [];
    const described: string[] = [];
    await Promise.all(watch.regions.map((region) => outcome(`RDS in ${region}`, watch.describe(region).then((found) => {
      instances.push(...found);
      described.push(region);
    }))));
    const replicas = readReplicas(instances, described);
    // Forget what is no longer a replica (promoted, deleted), in the regions read this time.
    const current = new Set(replicas.map((r) => `${r.replica.region}/${r.replica.instanceId}`));
    for (const key of lastLag.keys()) if (described.includes(key.slice(0, key.indexOf('/'))) && !current.has(key)) lastLag.delete(key);
    await Promise.all(replicas.map((r) => {
      const key = `${r.replica.region}/${r.replica.instanceId}`;
      const seconds = replicaLagSeconds(r, watch.isOut?.(r.source.region) ?? false, lastLag.get(key));
      lastLag.set(key, seconds);
      return outcome(`replica ${r.replica.instanceId} (${r.replica.region})`, opts.put(r.replica.region, { Namespace: 'AWS/RDS', MetricData: [replicaLagDatum(r.replica, seconds, at)] }));
    }));
  }

  async function tick(): Promise<void> {
    await Promise.all([
      ...opts.targets.map((t) => write(t, 'tick')),
      ...(opts.replicas ? [feedReplicas(opts.replicas, new Date())] : []),
    ]);
  }

  /** When the `seconds`-th second from now begins, in ms from now (a little past, see PAST_BOUNDARY_MS). */
  const untilSecond = (seconds: number) => SECOND_MS * seconds - (Date.now() % SECOND_MS) + PAST_BOUNDARY_MS;

  // A fault change: its targets at once, and the second it happened in once that is over (with
  // ticks longer than a second, none may come for a while).
  const changeTimers = new Set<NodeJS.Timeout>();
  const unsubscribe = opts.faults.subscribe((key) => {
    const changed = opts.targets.filter((t) => t.service === key.service && t.environment === key.environment);
    if (!changed.length) return;
    for (const t of changed) void write(t, 'fault change');
    const timer = setTimeout(() => {
      changeTimers.delete(timer);
      for (const t of changed) void write(t, 'tick');
    }, untilSecond(1));
    changeTimers.add(timer);
  });

  // Ticks run just after a second begins, so the second that ended shows at once.
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    inFlight = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, untilSecond(intervalSeconds));
    });
  };
  loop();

  return {
    tick,
    async stop() {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      for (const t of changeTimers) clearTimeout(t);
      changeTimers.clear();
      await inFlight;
      await Promise.all([...lanes.values()].map((lane) => lane.writes));
    },
  };
}
