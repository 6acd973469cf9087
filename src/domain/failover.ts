// Disaster recovery: what a service's DR posture is (DrSpec, resolved from `services.<s>.dr.<env>`
// in config), what readiness reads of it (ReadinessFacts), and the pure evaluation of those
// facts into checks that pass or fail with words. A failover workflow takes a DrSpec as its
// input; the readiness workflow (workflows/readiness.ts) feeds evaluateReadiness what the
// activities read, each read on the queue of the region it reads (src/domain/regions.ts).
//
// Fail-closed: a read that failed, a resource that is missing, and a metric with no datapoint
// all fail their check. Readiness never reports ready on the strength of silence.
import type { ApprovalRule } from './release';
import type { Colour, ComputeTarget, MetricsSpec, Thresholds } from './types';

/** An RDS instance in a region. */
export interface RdsInstanceRef {
  region: string;
  instanceId: string;
}

/**
 * Route 53 records of one name that send clients to one region or the other: the primary set (the
 * environment's region) and the secondary set (the DR region). The records themselves say how:
 * both failover records (the serving one PRIMARY, the other SECONDARY) or both weighted records
 * (the serving one weighted above 0, the other 0). See dnsRouting.
 */
export interface FailoverDns {
  hostedZoneId: string;
  recordName: string;
  recordType: 'A' | 'AAAA' | 'CNAME';
  primarySetIdentifier: string;
  secondarySetIdentifier: string;
}

/** One service environment's disaster-recovery posture (config `services.<service>.dr.<environment>`). */
export interface DrSpec {
  service: string;
  environment: string;
  /** The environment's own region: where the service runs today. */
  primaryRegion: string;
  /** The DR region; never the primary region. */
  region: string;
  /** The DR copy of the service's ECS cluster and blue/green services (in `region`). */
  compute: ComputeTarget;
  /** How many tasks the DR region runs after a failover (what it must be able to scale to). */
  productionCount: number;
  /** How many tasks the DR region runs while it waits (0: pilot light). */
  standbyCount: number;
  /** The primary database and its cross-region read replica in the DR region. */
  database: { primary: RdsInstanceRef; replica: RdsInstanceRef };
  dns: FailoverDns;
  /** What a failover smoke-tests in the DR region before DNS moves. */
  smokeTestUrl: string;
  /** Recovery point and time objectives, in seconds. */
  objectives: { rpoSeconds: number; rtoSeconds: number };
  /** The environment's own ECS cluster and services (in `primaryRegion`): what fencing stops. */
  primaryCompute: ComputeTarget;
  /** The environment's smoke tests, per colour: what a failback checks before DNS moves home. */
  primarySmokeTestUrls: Record<Colour, string>;
  /** The environment's approval rules (its gate's): planned failovers and failbacks wait for them. */
  approvals: ApprovalRule[];
  approvalExpirySeconds: number;
  /** After DNS moves: how long the new region is watched, sampled how often. */
  monitor: { seconds: number; everySeconds: number };
  /**
   * The DR region's metrics, for the deployment analysis while it is monitored: the environment's
   * queries in `region`, with `dr.metrics`' dimensions. null: no `dr.metrics`, so monitoring the
   * DR region is smoke tests only (and says so).
   */
  metrics: MetricsSpec | null;
  /** The environment's own metrics: what the analysis reads after DNS moves home. */
  primaryMetrics: MetricsSpec;
  /** The environment's thresholds: what the analysis judges either region by. */
  thresholds: Thresholds;
  /** How long a fenced switch waits for the replica to catch up (ReplicaLag 0). */
  catchUpSeconds: number;
  /** Who starts an emergency failover alone and confirms an unfenced promotion; whether unfenced needs no confirmation. */
  emergency: { role: string; allowUnfenced: boolean };
  /** Whether drills may run here, and how often a scheduled one does (null: none scheduled). */
  drills: { allowed: boolean; everySeconds: number | null };
}

/** How far back readiness looks for a ReplicaLag datapoint: CloudWatch publishes RDS metrics every minute. */
export const REPLICA_LAG_WINDOW_SECONDS = 600;

// ---------------------------------------------------------------- facts

/** A read that may have failed (the region did not answer, no permission): the error's words. */
export type Read<T> = { ok: true; value: T } | { ok: false; error: string };

export interface DrServiceFacts {
  name: string;
  /** ACTIVE, DRAINING, INACTIVE; null: no such service. */
  status: string | null;
  taskDefinitionArn: string | null;
  /** Whether the task definition the service names exists and is ACTIVE. */
  taskDefinitionActive: boolean;
  desiredCount: number;
  runningCount: number;
}

export interface DrComputeFacts {
  cluster: string;
  /** The cluster's status (ACTIVE, ...); null: no such cluster. */
  clusterStatus: string | null;
  services: Record<Colour, DrServiceFacts>;
}

export interface ReplicaFacts {
  instanceId: string;
  /** RDS's DBInstanceStatus (available, ...); null: no such instance. */
  status: string | null;
  /** ReadReplicaSourceDBInstanceIdentifier: an id, or an ARN for a cross-region replica; null: not a replica. */
  sourceIdentifier: string | null;
}

/** An RDS instance as a failover reads it. */
export interface InstanceFacts {
  region: string;
  instanceId: string;
  /** RDS's DBInstanceStatus; null: no such instance. */
  status: string | null;
  /** What it replicates (an id, or an ARN across regions); null: not a replica. */
  sourceIdentifier: string | null;
  /** Its ARN (what a cross-region replica names as its source); null when it does not exist. */
  arn: string | null;
  /** Its parameter group sets default_transaction_read_only (fenceDatabase). */
  readOnly: boolean;
  /** The `baton:fenced` tag: the run that fenced it, or null. */
  fencedBy: string | null;
}

export interface ReplicaLagFacts {
  /** The newest ReplicaLag datapoint (Maximum over a minute) in the window; null: none. */
  latest: { at: string; seconds: number } | null;
  windowSeconds: number;
}

export interface FailoverRecordFacts {
  setIdentifier: string;
  type: string;
  /** PRIMARY, SECONDARY, or null: not a failover record. */
  failover: string | null;
  /**
   * A weighted record's weight (0-255), or null: not a weighted record. Absent from reads a
   * running workflow recorded before weights were read: those are failover records (read as null).
   */
  weight?: number | null;
  /** null for an alias record (it takes its target's TTL). */
  ttl: number | null;
  values: string[];
}

// ---------------------------------------------------------------- DNS routing

/** How the two records of a FailoverDns route: the kind comes from the records, not from config. */
export type DnsRouting = 'failover' | 'weighted';

/** A record's routing as Baton moves it: failover (Failover set), weighted (Weight set, no Failover), or null: neither. */
export function routingOf(r: FailoverRecordFacts): DnsRouting | null {
  if (r.failover) return 'failover';
  if (r.weight !== undefined && r.weight !== null) return 'weighted';
  return null;
}

/** A record's role in words: `PRIMARY`, `weight 100`, or what it is not. */
export function recordRole(r: FailoverRecordFacts): string {
  const routing = routingOf(r);
  if (routing === 'failover') return r.failover!;
  if (routing === 'weighted') return `weight ${r.weight}`;
  return 'neither a failover nor a weighted record';
}

/**
 * The routing of a pair of records, or why Baton cannot move them: a record that is neither a
 * failover nor a weighted record (simple, latency, geolocation, ...), or two of different kinds.
 */
export function dnsRouting(a: FailoverRecordFacts, b: FailoverRecordFacts): { ok: true; routing: DnsRouting } | { ok: false; problem: string } {
  for (const r of [a, b]) {
    if (routingOf(r) === null) return { ok: false, problem: `record '${r.setIdentifier}' is neither a failover nor a weighted record` };
  }
  const [ra, rb] = [routingOf(a)!, routingOf(b)!];
  if (ra !== rb) {
    return { ok: false, problem: `record '${a.setIdentifier}' is a ${ra} record (${recordRole(a)}) and '${b.setIdentifier}' a ${rb} record (${recordRole(b)}): both must be failover records or both weighted` };
  }
  return { ok: true, routing: ra };
}

/**
 * The set identifier of the record that takes all traffic: the PRIMARY one while the other is
 * SECONDARY, or the only one weighted above 0 (Route 53 splits evenly when both are 0). null:
 * neither does alone, a record is missing, or the two cannot be moved (dnsRouting).
 */
export function servingSetIdentifier(dns: FailoverDns, records: FailoverRecordFacts[]): string | null {
  const [a, b] = [dns.primarySetIdentifier, dns.secondarySetIdentifier].map((id) => records.find((r) => r.setIdentifier === id && r.type === dns.recordType));
  if (!a || !b) return null;
  const routing = dnsRouting(a, b);
  if (!routing.ok) return null;
  for (const [x, y] of [[a, b], [b, a]]) {
    if (routing.routing === 'failover' ? x.failover === 'PRIMARY' && y.failover === 'SECONDARY' : x.weight! > 0 && y.weight === 0) return x.setIdentifier;
  }
  return null;
}

export interface ReadinessFacts {
  compute: Read<DrComputeFacts>;
  replica: Read<ReplicaFacts>;
  lag: Read<ReplicaLagFacts>;
  dns: Read<FailoverRecordFacts[]>;
}

// ---------------------------------------------------------------- checks

export interface ReadinessCheck {
  name: ReadinessCheckName;
  ok: boolean;
  /** What was seen, in words; for a failing check, what is wrong. */
  detail: string;
}

export const READINESS_CHECKS = ['dr-compute', 'dr-capacity', 'replica', 'replica-lag', 'dns'] as const;
export type ReadinessCheckName = (typeof READINESS_CHECKS)[number];

/** The result of checking one service environment. */
export interface ReadinessReport {
  service: string;
  environment: string;
  primaryRegion: string;
  drRegion: string;
  checkedAt: string;
  ok: boolean;
  checks: ReadinessCheck[];
  /** The names of the failing checks. */
  failing: ReadinessCheckName[];
}

const check = (name: ReadinessCheckName, ok: boolean, detail: string): ReadinessCheck => ({ name, ok, detail });
const unread = (name: ReadinessCheckName, what: string, error: string): ReadinessCheck => check(name, false, `could not read ${what}: ${error}`);

function computeCheck(spec: DrSpec, facts: Read<DrComputeFacts>): ReadinessCheck {
  const where = `${spec.compute.cluster} in ${spec.region}`;
  if (!facts.ok) return unread('dr-compute', `ECS cluster ${where}`, facts.error);
  const f = facts.value;
  if (f.clusterStatus !== 'ACTIVE') return check('dr-compute', false, f.clusterStatus === null ? `ECS cluster ${where} does not exist` : `ECS cluster ${where} is ${f.clusterStatus}, not ACTIVE`);
  const problems: string[] = [];
  for (const colour of ['blue', 'green'] as const) {
    const s = f.services[colour];
    if (s.status === null) problems.push(`service ${s.name} does not exist`);
    else if (s.status !== 'ACTIVE') problems.push(`service ${s.name} is ${s.status}, not ACTIVE`);
  }
  if (problems.length) return check('dr-compute', false, `in ${where}: ${problems.join('; ')}`);
  return check('dr-compute', true, `cluster ${where} and services ${f.services.blue.name}, ${f.services.green.name} are ACTIVE`);
}

/**
 * Whether the DR services could scale to productionCount: each has an ACTIVE task definition to
 * start tasks from, and runs no more than productionCount now (scaling would not shrink it).
 * ECS service quotas and the account's Fargate/EC2 capacity are not read: the detail says so.
 */
function capacityCheck(spec: DrSpec, facts: Read<DrComputeFacts>): ReadinessCheck {
  if (!facts.ok) return unread('dr-capacity', `the DR services in ${spec.region}`, facts.error);
  const f = facts.value;
  const problems: string[] = [];
  for (const colour of ['blue', 'green'] as const) {
    const s = f.services[colour];
    if (s.status === null) {
      problems.push(`service ${s.name} does not exist`);
      continue;
    }
    if (!s.taskDefinitionArn) problems.push(`service ${s.name} has no task definition`);
    else if (!s.taskDefinitionActive) problems.push(`service ${s.name}'s task definition ${s.taskDefinitionArn} is not ACTIVE`);
    if (s.desiredCount > spec.productionCount) problems.push(`service ${s.name} wants ${s.desiredCount} tasks, more than the production count ${spec.productionCount}`);
  }
  if (problems.length) return check('dr-capacity', false, `cannot scale to ${spec.productionCount} tasks: ${problems.join('; ')}`);
  const now = `${f.services.blue.desiredCount} + ${f.services.green.desiredCount}`;
  return check('dr-capacity', true, `both services have an ACTIVE task definition and want ${now} tasks (standby ${spec.standbyCount}, production ${spec.productionCount}); ECS service quotas are not read`);
}

/** A cross-region replica names its source by ARN (`arn:aws:rds:<region>:<account>:db:<id>`), a same-region one by id. */
function isSource(sourceIdentifier: string, primary: RdsInstanceRef): boolean {
  if (sourceIdentifier === primary.instanceId) return true;
  const arn = /^arn:[^:]+:rds:([^:]+):[^:]*:db:(.+)$/.exec(sourceIdentifier);
  return arn !== null && arn[1] === primary.region && arn[2] === primary.instanceId;
}

function replicaCheck(spec: DrSpec, facts: Read<ReplicaFacts>): ReadinessCheck {
  const { primary, replica } = spec.database;
  const where = `${replica.instanceId} in ${replica.region}`;
  if (!facts.ok) return unread('replica', `RDS instance ${where}`, facts.error);
  const f = facts.value;
  if (f.status === null) return check('replica', false, `RDS instance ${where} does not exist`);
  if (f.sourceIdentifier === null) return check('replica', false, `RDS instance ${where} is not a read replica (already promoted?)`);
  if (!isSource(f.sourceIdentifier, primary)) return check('replica', false, `RDS instance ${where} replicates ${f.sourceIdentifier}, not ${primary.instanceId} in ${primary.region}`);
  if (f.status !== 'available') return check('replica', false, `RDS replica ${where} is ${f.status}, not available`);
  return check('replica', true, `RDS replica ${where} of ${primary.instanceId} in ${primary.region} is available`);
}

function lagCheck(spec: DrSpec, facts: Read<ReplicaLagFacts>): ReadinessCheck {
  const { replica } = spec.database;
  const rpo = spec.objectives.rpoSeconds;
  if (!facts.ok) return unread('replica-lag', `ReplicaLag of ${replica.instanceId} in ${replica.region}`, facts.error);
  const f = facts.value;
  if (f.latest === null) {
    return check('replica-lag', false, `no ReplicaLag datapoint for ${replica.instanceId} in ${replica.region} in the last ${f.windowSeconds} s: replication cannot be shown to be within the RPO of ${rpo} s (fail-closed)`);
  }
  const { seconds, at } = f.latest;
  if (seconds >= rpo) return check('replica-lag', false, `ReplicaLag of ${replica.instanceId} is ${seconds} s at ${at}, not under the RPO of ${rpo} s`);
  return check('replica-lag', true, `ReplicaLag of ${replica.instanceId} is ${seconds} s at ${at}, under the RPO of ${rpo} s`);
}

/**
 * The records send clients to the environment's region and keep the DR record ready: failover
 * records PRIMARY and SECONDARY, or weighted records with the primary set above 0 and the DR set
 * at 0; either way with a TTL under the RTO, so clients follow a switch in time.
 */
function dnsCheck(spec: DrSpec, facts: Read<FailoverRecordFacts[]>): ReadinessCheck {
  const { dns } = spec;
  const rto = spec.objectives.rtoSeconds;
  if (!facts.ok) return unread('dns', `Route 53 records ${dns.recordName}`, facts.error);
  const problems: string[] = [];
  const [primary, secondary] = [dns.primarySetIdentifier, dns.secondarySetIdentifier].map((id) => {
    const r = facts.value.find((x) => x.setIdentifier === id && x.type === dns.recordType);
    if (!r) problems.push(`no ${dns.recordType} record '${id}'`);
    return r;
  });
  const routing = primary && secondary ? dnsRouting(primary, secondary) : null;
  if (routing && !routing.ok) problems.push(routing.problem);
  if (routing?.ok && routing.routing === 'failover') {
    for (const [role, r] of [['PRIMARY', primary!], ['SECONDARY', secondary!]] as const) {
      if (r.failover !== role) problems.push(`record '${r.setIdentifier}' is ${r.failover}, not ${role}`);
    }
  }
  if (routing?.ok && routing.routing === 'weighted') {
    const [p, s] = [primary!.weight!, secondary!.weight!];
    if (p === 0 && s === 0) {
      problems.push(`records '${primary!.setIdentifier}' and '${secondary!.setIdentifier}' both have weight 0, so Route 53 splits traffic evenly between ${spec.primaryRegion} and ${spec.region}: '${primary!.setIdentifier}' must be above 0`);
    } else {
      if (p === 0) problems.push(`record '${primary!.setIdentifier}' has weight 0, so ${spec.primaryRegion} takes no traffic: it must be above 0`);
      if (s > 0) problems.push(`record '${secondary!.setIdentifier}' has weight ${s}, so ${spec.region} takes ${Math.round((s / (p + s)) * 100)} % of traffic: it must be 0`);
    }
  }
  const seen: string[] = [];
  for (const r of [primary, secondary]) {
    if (!r) continue;
    if (r.ttl !== null && r.ttl >= rto) problems.push(`record '${r.setIdentifier}' has TTL ${r.ttl} s, not under the RTO of ${rto} s`);
    seen.push(`${recordRole(r)} '${r.setIdentifier}' → ${r.values.join(', ') || '(alias)'} (TTL ${r.ttl === null ? 'of the alias target' : `${r.ttl} s`})`);
  }
  if (problems.length) return check('dns', false, `${dns.recordName}: ${problems.join('; ')}`);
  return check('dns', true, `${dns.recordName}: ${seen.join('; ')}`);
}

/** The checks of one service environment, from what was read; pure. */
export function evaluateReadiness(spec: DrSpec, facts: ReadinessFacts, checkedAt: string): ReadinessReport {
  const checks = [
    computeCheck(spec, facts.compute),
    capacityCheck(spec, facts.compute),
    replicaCheck(spec, facts.replica),
    lagCheck(spec, facts.lag),
    dnsCheck(spec, facts.dns),
  ];
  const failing = checks.filter((c) => !c.ok).map((c) => c.name);
  return {
    service: spec.service,
    environment: spec.environment,
    primaryRegion: spec.primaryRegion,
    drRegion: spec.region,
    checkedAt,
    ok: failing.length === 0,
    checks,
    failing,
  };
}

/** The Slack text for a report whose failing checks changed since the previous one; null: nothing to say. */
export function readinessNotice(report: ReadinessReport, previous: ReadinessReport | null): string | null {
  const before = previous?.failing ?? [];
  const same = before.length === report.failing.length && before.every((n) => report.failing.includes(n));
  if (same) return null;
  const what = `${report.service} in ${report.environment} (DR ${report.drRegion})`;
  if (report.ok) return `:white_check_mark: DR readiness of ${what} passes again.`;
  const lines = report.checks.filter((c) => !c.ok).map((c) => `• *${c.name}*: ${c.detail}`);
  return `:warning: DR readiness of ${what} fails ${report.failing.length} check${report.failing.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
}
