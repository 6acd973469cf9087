// Database restores: what to restore, from which backup, to which instant, and what it will
// cost in lost data (RPO) and time (RTO). Pure: the workflow, the API's plan preview and the
// tests share these rules. The backups and the reachable range come from the provider.
import { compactStamp } from './instants';
import type { BackupInfo, BackupManifest, DatabaseTarget, Inventory, VerificationResult } from './database';
import { formatDuration } from './durations';
import type { ApprovalRecord, ApprovalRefusal, ApprovalRule, Decision } from './release';
import type { ComputeTarget, MetricsSpec, Outcome, Thresholds } from './types';

/** What the operator asks for: the newest data the log can give, an instant, or one backup as it was taken. */
export type RestoreTarget = { latest: true } | { pointInTime: string } | { backup: string };

/** A service that uses the database: quiesced during the restore, resumed, smoke-tested and watched after. */
export interface DatabaseService {
  service: string;
  compute: ComputeTarget;
  smokeTestUrls: { blue: string; green: string };
  metrics: MetricsSpec;
  thresholds: Thresholds;
}

/** One database in one environment, as a restore run carries it (no secrets). */
export interface DatabaseSpec {
  environment: string;
  database: string;
  target: DatabaseTarget;
  services: DatabaseService[];
  /** Tables whose row counts and checksums a backup records and a restore to that backup compares. */
  critical: string[];
  assertions: Array<{ name: string; sql: string }>;
  objectives: { rpoSeconds: number; rtoSeconds: number };
  /** How long the resumed services are watched with the deployment analysis; a breach switches back. */
  watchSeconds: number;
  /** Interval between two analysis samples while watching. */
  sampleSeconds: number;
  /** How long an approval may take once asked for; then the restore ends `expired`. */
  approvalExpirySeconds: number;
  /** How long the original is kept aside after a successful switch, then dropped. */
  retentionSeconds: number;
  /** The environment's approval rules (empty: no approval). */
  approvals: ApprovalRule[];
  /** Drill schedule, and the age beyond which the last drill is flagged. */
  drill: { cron: string; timeZone: string; maxAgeSeconds: number } | null;
}

export interface RestorePlan {
  environment: string;
  database: string;
  kind: DatabaseTarget['kind'];
  target: RestoreTarget;
  /** The backup, with its manifest (compared with the copy when no log is replayed on top). */
  backup: { id: string; kind: BackupInfo['kind']; consistentAt: string; manifest: BackupManifest | null };
  /** The instant the log is replayed to; null: the backup as it was taken. */
  pointInTime: string | null;
  /** The span of log replayed on top of the backup, or null. */
  replay: { from: string; to: string } | null;
  /** The instant the data is lost from: the incident, or the moment of planning. */
  incidentAt: string;
  /** incidentAt minus the newest data the restore brings back (an upper bound: the log may hold no commit right at the target). */
  predictedRpoSeconds: number;
  /** The median duration of this database's past restores and drills, or null with none yet. */
  expectedDurationSeconds: number | null;
  /** The services quiesced during the restore. */
  services: string[];
  /** Fixes what an approval approved: backup, instant, services, switch. */
  hash: string;
}

/** A restore plan, or why none exists (the API's 400). */
export type PlanResult = { ok: true; plan: RestorePlan } | { ok: false; problem: string };

function describeRange(inv: Inventory): string {
  if (inv.pointInTime) return `reachable: ${inv.pointInTime.earliest} to ${inv.pointInTime.latest}`;
  if (inv.backups.length === 0) return 'no backups exist';
  return `no point-in-time range; backups at ${inv.backups.map((b) => `${b.id} (${b.consistentAt})`).join(', ')}`;
}

/** The newest backup the log can be replayed from to reach `atMs`. */
function replayableBefore(inv: Inventory, atMs: number): BackupInfo | null {
  const usable = inv.backups.filter((b) => b.replayable && b.verified.ok && Date.parse(b.consistentAt) <= atMs);
  return usable.sort((a, b) => Date.parse(b.consistentAt) - Date.parse(a.consistentAt))[0] ?? null;
}

/**
 * The plan for a restore target against what exists. Every refusal names the reachable range,
 * so the operator can ask again with an instant that works.
 */
export function planRestore(
  spec: DatabaseSpec,
  inv: Inventory,
  target: RestoreTarget,
  opts: { nowMs: number; incidentAt?: string | null; pastDurationsSeconds?: number[] },
): PlanResult {
  const incidentMs = opts.incidentAt ? Date.parse(opts.incidentAt) : opts.nowMs;
  let backup: BackupInfo | null;
  let pointInTime: string | null = null;
  if ('backup' in target) {
    backup = inv.backups.find((b) => b.id === target.backup) ?? null;
    if (!backup) return { ok: false, problem: `no backup '${target.backup}' of ${spec.database} in ${spec.environment} (${describeRange(inv)})` };
    if (!backup.verified.ok) return { ok: false, problem: `backup '${backup.id}' failed its own checks when taken: ${backup.verified.detail}` };
  } else {
    const range = inv.pointInTime;
    const wanted = 'latest' in target ? (range ? Date.parse(range.latest) : null) : Date.parse(target.pointInTime);
    if (wanted === null || range === null) {
      if ('latest' in target) {
        // No log to replay: the newest good backup is the latest data there is.
        backup = [...inv.backups].filter((b) => b.verified.ok).sort((a, b) => Date.parse(b.consistentAt) - Date.parse(a.consistentAt))[0] ?? null;
        if (!backup) return { ok: false, problem: `nothing to restore ${spec.database} in ${spec.environment} from (${describeRange(inv)})` };
      } else {
        return { ok: false, problem: `pointInTime ${target.pointInTime} cannot be reached: ${describeRange(inv)}` };
      }
    } else {
      if (wanted < Date.parse(range.earliest) || wanted > Date.parse(range.latest)) {
        const when = 'pointInTime' in target ? target.pointInTime : 'latest';
        return { ok: false, problem: `pointInTime ${when} cannot be reached: ${describeRange(inv)}` };
      }
      backup = replayableBefore(inv, wanted);
      if (!backup) return { ok: false, problem: `no verified backup to replay from before ${new Date(wanted).toISOString()} (${describeRange(inv)})` };
      pointInTime = new Date(wanted).toISOString();
    }
  }
  const dataUntil = pointInTime ?? backup.consistentAt;
  const durations = [...(opts.pastDurationsSeconds ?? [])].sort((a, b) => a - b);
  const core = {
    environment: spec.environment,
    database: spec.database,
    kind: spec.target.kind,
    target,
    backup: { id: backup.id, kind: backup.kind, consistentAt: backup.consistentAt, manifest: backup.manifest },
    pointInTime,
    replay: pointInTime ? { from: backup.consistentAt, to: pointInTime } : null,
    services: spec.services.map((s) => s.service),
  };
  return {
    ok: true,
    plan: {
      ...core,
      incidentAt: new Date(incidentMs).toISOString(),
      predictedRpoSeconds: Math.max(0, Math.round((incidentMs - Date.parse(dataUntil)) / 1000)),
      expectedDurationSeconds: durations.length === 0 ? null : durations[Math.floor(durations.length / 2)],
      hash: planHash({ ...core, target: null, switch: spec.target.kind === 'rds' ? spec.target.switch : 'rename' }),
    },
  };
}

/**
 * A short, stable fingerprint of what a plan will do (canonical JSON through two 32-bit FNV-1a
 * lanes). It detects drift between what was approved and what would run; it is not a
 * security hash and needs none: the approval and the plan are both in the run's history.
 */
export function planHash(value: unknown): string {
  const text = canonical(value);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What the plan will do, in one line ("restore orders in prod from base-… replaying the log to …"). */
export function describePlan(p: RestorePlan): string {
  const to = p.pointInTime ? `replaying the log to ${p.pointInTime}` : `as taken at ${p.backup.consistentAt}`;
  return `restore ${p.database} in ${p.environment} from ${p.backup.kind} backup ${p.backup.id} ${to} (RPO at most ${formatDuration(p.predictedRpoSeconds)})`;
}

// ---- measurements ----

export interface RestoreMeasures {
  /** incident (or target) minus the last commit the restored copy holds; null when the provider could not say. */
  rpoSeconds: number | null;
  /** start to service resumed; null until resumed. */
  rtoSeconds: number | null;
  rpoMet: boolean | null;
  rtoMet: boolean | null;
}

export function measures(
  plan: RestorePlan,
  lastCommitAt: string | null,
  startedMs: number,
  resumedMs: number | null,
  objectives: DatabaseSpec['objectives'],
): RestoreMeasures {
  const reference = Date.parse(plan.incidentAt);
  const rpoSeconds = lastCommitAt === null ? null : Math.max(0, Math.round((reference - Date.parse(lastCommitAt)) / 1000));
  const rtoSeconds = resumedMs === null ? null : Math.max(0, Math.round((resumedMs - startedMs) / 1000));
  return {
    rpoSeconds,
    rtoSeconds,
    rpoMet: rpoSeconds === null ? null : rpoSeconds <= objectives.rpoSeconds,
    rtoMet: rtoSeconds === null ? null : rtoSeconds <= objectives.rtoSeconds,
  };
}

/** The first failed verification, in words, or null when every check passed (and at least one ran). */
export function verificationFailure(results: VerificationResult[]): string | null {
  if (results.length === 0) return 'no verification ran';
  const bad = results.filter((r) => !r.ok);
  if (bad.length === 0) return null;
  return bad.map((r) => `${r.name}: ${r.detail}`).join('; ');
}

// ---- drills ----

/** One finished restore or drill of a database, as its ledger keeps it. */
export interface RunRecord {
  id: string;
  mode: 'restore' | 'drill';
  /** When it ended. */
  at: string;
  outcome: Outcome;
  durationSeconds: number | null;
  rpoSeconds: number | null;
  detail: string;
}

/** What is wrong with a database's drills now: none, one too old, one too slow for the RTO. */
export function drillFlags(last: RunRecord | null, spec: Pick<DatabaseSpec, 'drill' | 'objectives'>, nowMs: number): string[] {
  const flags: string[] = [];
  if (!spec.drill) return flags;
  if (last === null) return ['never drilled'];
  const ageSeconds = Math.round((nowMs - Date.parse(last.at)) / 1000);
  if (ageSeconds > spec.drill.maxAgeSeconds) flags.push(`last drill is ${formatDuration(ageSeconds)} old (at most ${formatDuration(spec.drill.maxAgeSeconds)})`);
  if (last.outcome !== 'succeeded') flags.push(`last drill ${last.outcome}: ${last.detail}`);
  if (last.durationSeconds !== null && last.durationSeconds > spec.objectives.rtoSeconds / 2) {
    flags.push(`last drill took ${formatDuration(last.durationSeconds)}, over half the RTO (${formatDuration(spec.objectives.rtoSeconds)})`);
  }
  return flags;
}

/** The restore run's id: readable, and unique per request second. */
export function restoreId(database: string, environment: string, nowMs: number, mode: 'restore' | 'drill' = 'restore'): string {
  return `${mode}:${database}:${environment}:${compactStamp(nowMs)}`;
}

// ---- approvals ----

/**
 * Why a person may not decide on a restore at all, or null: a role the rules name, and not the
 * requester approving their own restore. Asked before anything about the run's state
 * (authorization before state); rules empty (a drill, an environment without approvals): null.
 */
export function whyNotRestoreDecider(req: { decision: Decision; by: string; roles: string[] }, ctx: { rules: ApprovalRule[]; requestedBy: string }): ApprovalRefusal | null {
  const roles = [...new Set(ctx.rules.map((r) => r.role))];
  if (roles.length === 0) return null;
  if (!roles.some((r) => req.roles.includes(r))) {
    const has = req.roles.length === 0 ? 'no roles' : `roles ${req.roles.join(', ')}`;
    return { status: 403, message: `${req.by} (${has}) may not decide on this restore: it needs role ${roles.join(' or ')}` };
  }
  if (req.decision === 'approve' && req.by === ctx.requestedBy) return { status: 403, message: `${req.by} requested this restore and may not approve it` };
  return null;
}

/**
 * Why a decision on a restore must be refused, or null: the same rules as a release gate's (a
 * role the rules name, not the requester approving their own restore, each person once), and
 * only while the restore waits for approval. Who may decide is judged before the state.
 */
export function whyRestoreDecisionRefused(
  req: { decision: Decision; by: string; roles: string[] },
  ctx: { rules: ApprovalRule[]; awaiting: boolean; phase: string; requestedBy: string; approvals: ApprovalRecord[] },
): ApprovalRefusal | null {
  if (ctx.rules.length === 0) return { status: 409, message: 'this restore needs no approval' };
  const forbidden = whyNotRestoreDecider(req, ctx);
  if (forbidden) return forbidden;
  if (!ctx.awaiting) return { status: 409, message: `this restore is not waiting for approval (phase ${ctx.phase})` };
  const earlier = ctx.approvals.find((a) => a.by === req.by);
  if (earlier) return { status: 409, message: `${req.by} already ${earlier.decision === 'approve' ? 'approved' : 'rejected'} this restore at ${earlier.at}; each person decides once` };
  return null;
}
