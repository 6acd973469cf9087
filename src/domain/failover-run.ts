// A failover run's rules, pure: which way it goes (the two sides of a DrSpec, by mode), the steps
// it will take (the plan a preview shows), who may approve or confirm it, which colour the DR
// region serves from, and what it measures (RTO, RPO, detection). The workflow
// (workflows/failover.ts) carries these out; the API checks a request with the same functions.
import type { ApprovalRecord, Decision, ApprovalRule } from './release';
import { dnsRouting, recordRole, servingSetIdentifier, type DrSpec, type FailoverDns, type FailoverRecordFacts, type RdsInstanceRef } from './failover';
import { WATCH_FAILURE_LIMIT } from './analysis';
import type { Colour, ComputeTarget, MetricsSpec, Sample, Verdict } from './types';

export const FAILOVER_MODES = ['planned', 'emergency', 'failback', 'drill'] as const;
export type FailoverMode = (typeof FAILOVER_MODES)[number];

/** One region's half of a service environment's DR posture. */
export interface FailoverSide {
  region: string;
  compute: ComputeTarget;
  /** The database instance on this side: the primary in the environment's region, the replica in the DR region. */
  database: RdsInstanceRef;
  /** The Route 53 record set that sends clients here. */
  setIdentifier: string;
  /** What a smoke test calls here, per colour. */
  smokeTestUrls: Record<Colour, string>;
  /** What the analysis reads here while the side is monitored; null: smoke tests only. */
  metrics: MetricsSpec | null;
}

/** Which way a run goes: away from `from`, onto `to`. */
export interface FailoverDirection {
  from: FailoverSide;
  to: FailoverSide;
}

// A run started before specs carried metrics has none in its input: it monitors with smoke tests only, as it did.
export function primarySide(spec: DrSpec): FailoverSide {
  return { region: spec.primaryRegion, compute: spec.primaryCompute, database: spec.database.primary, setIdentifier: spec.dns.primarySetIdentifier, smokeTestUrls: spec.primarySmokeTestUrls, metrics: spec.primaryMetrics ?? null };
}

export function drSide(spec: DrSpec): FailoverSide {
  return { region: spec.region, compute: spec.compute, database: spec.database.replica, setIdentifier: spec.dns.secondarySetIdentifier, smokeTestUrls: { blue: spec.smokeTestUrl, green: spec.smokeTestUrl }, metrics: spec.metrics ?? null };
}

/**
 * The direction of a request, or why it is refused: a failover, an emergency and a drill go from
 * the environment's region to the DR region; a failback comes home.
 */
export function directionOf(spec: DrSpec, mode: FailoverMode, fromRegion: string, toRegion: string): { ok: true; direction: FailoverDirection } | { ok: false; field: 'fromRegion' | 'toRegion'; message: string } {
  const home = primarySide(spec);
  const dr = drSide(spec);
  const [from, to] = mode === 'failback' ? [dr, home] : [home, dr];
  const what = mode === 'failback' ? 'a failback comes home from the DR region' : `a ${mode === 'drill' ? 'drill' : 'failover'} goes from the environment's region to its DR region`;
  if (fromRegion !== from.region) return { ok: false, field: 'fromRegion', message: `fromRegion: ${spec.service} in ${spec.environment} is ${home.region} with DR in ${dr.region}; ${what}, so fromRegion must be ${from.region}, not ${fromRegion}` };
  if (toRegion !== to.region) return { ok: false, field: 'toRegion', message: `toRegion: ${what}, so toRegion must be ${to.region}, not ${toRegion}` };
  return { ok: true, direction: { from, to } };
}

/** The dns of a spec as the provider takes it (kept apart so a side names its record only by set identifier). */
export function dnsOf(spec: DrSpec): FailoverDns {
  return spec.dns;
}

/**
 * The DNS step's detail once the records are read back: where the name now sends clients, and
 * how: `api.example.com → us-west-2 ('secondary' PRIMARY, 'primary' SECONDARY)` for failover
 * records, `api.example.com → us-west-2 (weight 100/0)` for weighted ones (the serving record's
 * weight first). Records that route nowhere alone are listed as read.
 */
export function dnsDetail(dns: FailoverDns, records: FailoverRecordFacts[], region: string): string {
  const serving = servingSetIdentifier(dns, records);
  const find = (id: string) => records.find((r) => r.setIdentifier === id && r.type === dns.recordType)!;
  if (serving === null) return `${dns.recordName}: ${records.map((r) => `'${r.setIdentifier}' ${recordRole(r)}`).join(', ') || 'no records'}`;
  const [a, b] = [find(serving), find(serving === dns.primarySetIdentifier ? dns.secondarySetIdentifier : dns.primarySetIdentifier)];
  const routing = dnsRouting(a, b);
  const how = routing.ok && routing.routing === 'weighted' ? `weight ${a.weight}/${b.weight}` : `'${a.setIdentifier}' ${a.failover}, '${b.setIdentifier}' ${b.failover}`;
  return `${dns.recordName} → ${region} (${how})`;
}

/** A step of the plan, in the order the run takes it. */
export interface PlannedStep {
  name: string;
  description: string;
}

/** What a run will do, in order, for the preview and the status. Pure: it names, it does not read. */
export function planSteps(spec: DrSpec, mode: FailoverMode, d: FailoverDirection): PlannedStep[] {
  const s = (name: string, description: string): PlannedStep => ({ name, description });
  const approval = spec.approvals.length
    ? [s('approval', `wait for ${spec.approvals.map((r) => `${r.count} ${r.role}`).join(' and ')} (the release rules of ${spec.environment}), at most ${Math.round(spec.approvalExpirySeconds / 3600)} h`)]
    : [];
  const fence = (from: FailoverSide, to: FailoverSide) => [
    s('fence', `stop writes in ${from.region}: scale ${from.compute.cluster}'s services to 0 (their counts recorded on them) and make ${from.database.instanceId} read-only`),
    s('catch-up', `wait until ${to.database.instanceId}'s ReplicaLag is 0 (at most ${spec.catchUpSeconds} s; then unfence and stop)`),
  ];
  const switchTo = (to: FailoverSide, scale: string) => [
    s('promote', `promote ${to.database.instanceId} in ${to.region} to a standalone primary`),
    s('scale', scale),
    s('smoke', `smoke-test ${to.region} before any client is sent there`),
    s('dns', `make '${to.setIdentifier}' the record ${spec.dns.recordName} answers with (failover records: PRIMARY; weighted records: all the weight) and read it back`),
    s('monitor', monitorPlan(spec, to)),
  ];
  const upDr = `scale the DR services in ${spec.region} to ${spec.productionCount} tasks and wait until stable`;
  const failback = (): PlannedStep[] => [
    s('rebuild', `set ${spec.database.primary.instanceId} aside and create it again in ${spec.primaryRegion} as a read replica of ${spec.database.replica.instanceId}; wait until available`),
    ...fence(drSide(spec), primarySide(spec)),
    ...switchTo(primarySide(spec), `scale ${spec.primaryCompute.cluster}'s services back to the counts recorded when they were fenced; wait until stable`).filter((x) => x.name !== 'monitor'),
    s('rebuild-dr', `set ${spec.database.replica.instanceId} aside and create it again in ${spec.region} as a read replica of ${spec.database.primary.instanceId}; scale the DR services to standby (${spec.standbyCount})`),
    s('clean-up', 'delete the set-aside instances (a final snapshot of each, but for a drill)'),
  ];
  switch (mode) {
    case 'planned':
      return [...approval, s('preflight', 'check the DR posture (readiness checks); a failing check stops the run before anything changes'), ...fence(d.from, d.to), ...switchTo(d.to, upDr)];
    case 'emergency':
      return [
        s('preflight', 'check the DR posture; failing checks are recorded as risks, not stops'),
        s('fence', `try to stop writes in ${d.from.region} (services to 0, ${d.from.database.instanceId} read-only); if it does not answer, the primary is unfenced`),
        s('confirm', spec.emergency.allowUnfenced ? 'unfenced: promote without confirmation (config allows it)' : `unfenced: wait for a second person with role ${spec.emergency.role} to confirm`),
        s('catch-up', `fenced: wait until ReplicaLag is 0; unfenced: take the last ReplicaLag as the RPO`),
        ...switchTo(d.to, upDr),
      ];
    case 'failback':
      return [...approval, s('preflight', `check that ${spec.database.replica.instanceId} is the standalone primary and ${spec.primaryRegion} answers`), ...failback(), s('monitor', monitorPlan(spec, primarySide(spec)))];
    case 'drill':
      return [
        s('preflight', 'check the DR posture; a failing check stops the drill before anything changes'),
        ...fence(d.from, d.to),
        ...switchTo(d.to, upDr),
        ...failback(),
        s('verify', 'compare both regions with what was read before the drill'),
      ];
    default: {
      const unknown: never = mode;
      throw new Error(`unknown failover mode ${String(unknown)}`);
    }
  }
}

/** What monitoring a side does after DNS moves there, in words (a side without metrics: smoke tests only, said so). */
function monitorPlan(spec: DrSpec, to: FailoverSide): string {
  const each = `every ${spec.monitor.everySeconds} s`;
  const what = to.metrics
    ? `a smoke test and the deployment analysis (error rate, latency) ${each}; ${WATCH_FAILURE_LIMIT} failing analyses or ${MONITOR_SMOKE_FAILURE_LIMIT} failed smoke tests in a row fail the run, DNS left there`
    : `a smoke test ${each}; no analysis: no \`dr.metrics\` for ${to.region}`;
  return `watch ${to.region} for ${spec.monitor.seconds} s (${what})`;
}

/** Consecutive failed smoke tests while monitoring that fail the run. */
export const MONITOR_SMOKE_FAILURE_LIMIT = 2;

/**
 * The monitor step's detail once it has run: how many samples, and what the smoke tests and the
 * analysis said; `analysis` null: the side had no metrics, which the words say (no silent pass).
 */
export function monitorDetail(region: string, smoke: { passed: number; run: number }, analysis: readonly Sample[] | null): string {
  const smoked = smoke.passed === smoke.run ? `${smoke.run} smoke tests passed` : `${smoke.passed} of ${smoke.run} smoke tests passed`;
  if (analysis === null) return `${smoked}; no analysis: no \`dr.metrics\` for ${region}`;
  const of = (v: Verdict) => analysis.filter((x) => x.verdict === v);
  if (smoke.passed === smoke.run && of('pass').length === analysis.length) return `${analysis.length} samples passed (analysis and smoke)`;
  const why = [...new Set(of('inconclusive').map((x) => x.reason.replace('_', ' ')))];
  return `${smoke.run} samples: ${smoked}; analysis ${of('pass').length} passed, ${of('inconclusive').length} inconclusive${why.length ? ` (${why.join(', ')})` : ''}, ${of('fail').length} failed`;
}

/**
 * The colour the DR region serves from: the one the primary ran more tasks of before it was fenced
 * (its live colour), blue when it ran none (or as many of each).
 */
export function servingColour(counts: Record<Colour, number> | null): Colour {
  if (!counts) return 'blue';
  return counts.green > counts.blue ? 'green' : 'blue';
}

/** One step as it ran. */
export interface StepRecord {
  name: string;
  startedAt: string;
  durationSeconds: number | null;
  outcome: 'running' | 'ok' | 'failed' | 'cancelled';
  detail: string | null;
}

export interface FailoverMeasures {
  /** Start (or detection, when given) to DNS switched and the new region healthy; null before that. */
  rtoSeconds: number | null;
  /** Detection to start, when the request says when the outage was detected. */
  detectionSeconds: number | null;
  /** ReplicaLag at promotion, or 0 when fenced and caught up; null before promotion. */
  rpoSeconds: number | null;
  rtoMet: boolean | null;
  rpoMet: boolean | null;
}

/** RTO counts from the start of the run (detection reported apart), to DNS switched and healthy. */
export function failoverMeasures(startedMs: number, detectedAtMs: number | null, healthyMs: number | null, rpoSeconds: number | null, objectives: DrSpec['objectives']): FailoverMeasures {
  const rtoSeconds = healthyMs === null ? null : Math.max(0, Math.round((healthyMs - startedMs) / 1000));
  return {
    rtoSeconds,
    detectionSeconds: detectedAtMs === null ? null : Math.max(0, Math.round((startedMs - detectedAtMs) / 1000)),
    rpoSeconds,
    rtoMet: rtoSeconds === null ? null : rtoSeconds <= objectives.rtoSeconds,
    rpoMet: rpoSeconds === null ? null : rpoSeconds <= objectives.rpoSeconds,
  };
}

export interface DecisionRefusal {
  status: 400 | 403 | 409;
  message: string;
}

/** Who a failover is waiting for, if anyone. */
export type FailoverWait = 'approval' | 'confirmation' | null;

/**
 * Why a person may not make this decision at all, or null, asked before anything about the
 * run's state (authorization before state). Waiting for an approval: a role the release rules
 * name, never the requester approving their own. Waiting for a confirmation: the emergency
 * role, someone other than who started it. Waiting for nothing: a role that could ever decide
 * (the rules' or the emergency role), so a stranger hears 403 rather than "not waiting".
 */
export function whyNotFailoverDecider(
  req: { decision: Decision; by: string; roles: string[] },
  ctx: { waitingFor: FailoverWait; rules: ApprovalRule[]; emergencyRole: string; requestedBy: string },
): DecisionRefusal | null {
  const has = req.roles.length === 0 ? 'no roles' : `roles ${req.roles.join(', ')}`;
  if (ctx.waitingFor === 'confirmation') {
    if (!req.roles.includes(ctx.emergencyRole)) return { status: 403, message: `${req.by} (${has}) may not confirm an unfenced promotion: it needs role ${ctx.emergencyRole}` };
    if (req.by === ctx.requestedBy) return { status: 403, message: `${req.by} started this failover; a second person must confirm promoting while the primary is unfenced` };
    return null;
  }
  const ruleRoles = ctx.rules.map((r) => r.role);
  const roles = [...new Set(ctx.waitingFor === null ? [...ruleRoles, ctx.emergencyRole] : ruleRoles)];
  if (!roles.some((r) => req.roles.includes(r))) return { status: 403, message: `${req.by} (${has}) may not decide on this failover: it needs role ${roles.join(' or ')}` };
  if (ctx.waitingFor === 'approval' && req.decision === 'approve' && req.by === ctx.requestedBy) return { status: 403, message: `${req.by} requested this failover and may not approve it` };
  return null;
}

/**
 * Whether a person may decide now: an approval (the release rules, while the run waits for
 * them or plans) or a confirmation of an unfenced promotion (the emergency role, someone other
 * than who started it). Who may decide is judged first, then the state. Each person decides once.
 */
export function whyFailoverDecisionRefused(
  req: { decision: Decision; by: string; roles: string[] },
  ctx: { waitingFor: FailoverWait; rules: ApprovalRule[]; emergencyRole: string; phase: string; requestedBy: string; decisions: ApprovalRecord[] },
): DecisionRefusal | null {
  const forbidden = whyNotFailoverDecider(req, ctx);
  if (forbidden) return forbidden;
  if (ctx.waitingFor === null) return { status: 409, message: `this failover is not waiting for an approval or a confirmation (phase ${ctx.phase})` };
  const earlier = ctx.decisions.find((a) => a.by === req.by);
  if (earlier) return { status: 409, message: `${req.by} already ${earlier.decision === 'approve' ? 'approved' : 'rejected'} at ${earlier.at}; each person decides once` };
  return null;
}

/** `failover:<service>:<environment>:<mode>-<stamp>`: ids sort by time within a service environment. */
export function failoverId(service: string, environment: string, mode: FailoverMode, stamp: string): string {
  return `failover:${service}:${environment}:${mode}-${stamp}`;
}

/** The name an instance is set aside under during a failback: `<id>-pre-<stamp>` (RDS ids: 63 characters). */
export function asideName(instanceId: string, stamp: string): string {
  return `${instanceId}-pre-${stamp.toLowerCase()}`.slice(0, 63).replace(/-+$/, '');
}
