// Releases: one version of one service promoted through the environments, each behind a gate.
// Pure types shared by config, workflows, the API and tests (no I/O, no secrets).
import type { Outcome } from './types';

/** "n distinct people with role r". Several rules on one gate must all hold. */
export interface ApprovalRule {
  role: string;
  count: number;
}

/** A calendar departure: day of week and local time in the train's IANA time zone. */
export interface TrainSpec {
  /** Environment it ships to; the schedule id is `train-<environment>`. */
  environment: string;
  days: Array<'MON' | 'TUE' | 'WED' | 'THU' | 'FRI' | 'SAT' | 'SUN'>;
  hour: number;
  minute: number;
  timeZone: string;
  /** How long after departure releases may still board. */
  windowSeconds: number;
  /** How many releases depart together at most. */
  concurrency: number;
  /** Services in departure order (others after, by readiness). */
  order: string[];
  /** How late a missed departure may still run (Temporal schedule catch-up window). */
  catchupWindowSeconds: number;
}

export interface Freeze {
  /** `config-<n>` for the config's freezes, `freeze-<n>` for those declared through the API. */
  id?: string;
  /** ISO instants, [from, to). */
  from: string;
  to: string;
  environments: string[];
  reason: string;
  source?: 'config' | 'api';
  /** Who declared it through the API, and when. */
  declaredBy?: string;
  declaredAt?: string;
  /** A break-glass deployment may go ahead during this freeze. */
  allowBreakGlass?: boolean;
}

/** Freezes from several sources, each once (by id, else by what it says). */
export function mergeFreezes(...lists: Array<readonly Freeze[] | undefined>): Freeze[] {
  const seen = new Map<string, Freeze>();
  for (const list of lists) {
    for (const f of list ?? []) {
      const key = f.id ?? `${f.from}|${f.to}|${[...f.environments].sort().join(',')}|${f.reason}`;
      if (!seen.has(key)) seen.set(key, f);
    }
  }
  return [...seen.values()];
}

/** What must hold before a release enters an environment. */
export interface GateSpec {
  /** Named checks that must have passed (the newest record of each counts). */
  checks: string[];
  approvals: ApprovalRule[];
  /** Time the version must have been live in the previous environment, without a rollback. */
  stabilitySeconds: number;
  /** Ships only with this environment's train. */
  train: string | null;
  /** A gate not satisfied within this ends the release as `expired`. */
  expirySeconds: number;
}

export type CheckStatus = 'passed' | 'failed';

export interface CheckRecord {
  name: string;
  status: CheckStatus;
  url: string | null;
  by: string;
  at: string;
}

export type Decision = 'approve' | 'reject';

export interface ApprovalRecord {
  environment: string;
  decision: Decision;
  by: string;
  /** The approver's roles when they decided (the audit trail keeps them). */
  roles: string[];
  comment: string | null;
  at: string;
}

export type GateState = 'waiting' | 'open' | 'satisfied' | 'departed' | 'expired' | 'rejected' | 'skipped';

export interface ReleaseRequest {
  service: string;
  version: string;
  hotfix: boolean;
  requestedBy: string;
  /** The image digest every environment deploys, resolved when the release started; absent on older runs (they deploy the tag). */
  digest?: string;
}

export interface ReleaseOutcomeInfo {
  outcome: Outcome;
  reason: string;
}

export function releaseId(service: string, version: string): string {
  return `release:${service}:${version}`;
}

export function trainScheduleId(environment: string): string {
  return `train-${environment}`;
}

/**
 * The workflow id of the departure a train's Schedule starts at `departureMs`: the schedule's
 * id and the departure's nominal time (RFC 3339, whole seconds), as Temporal names them.
 */
export function trainRunId(environment: string, departureMs: number): string {
  return `${trainScheduleId(environment)}-${new Date(Math.floor(departureMs / 1000) * 1000).toISOString().replace('.000Z', 'Z')}`;
}

// ---- Gate evaluation (src/domain/gates.ts) ----

/** Everything a gate's evaluation needs; the workflow gathers it and passes the time in. */
export interface GateContext {
  environment: string;
  nowMs: number;
  /**
   * The gate's expiry as of nowMs: time left, and whether it is counting (it counts only while
   * the gate is open, unsatisfied and not frozen). Null: the gate has not opened yet.
   */
  expiry: { leftMs: number; running: boolean } | null;
  checks: CheckRecord[];
  /** All decisions on this release, any environment. */
  approvals: ApprovalRecord[];
  requestedBy: string;
  hotfix: boolean;
  hotfixApprovalRole: string | null;
  /** When the version became live (100 %) in the previous environment; null if none or not yet. */
  previousLiveSinceMs: number | null;
  previousEnvironment: string | null;
  freezes: Freeze[];
  train: TrainSpec | null;
  /** Departures (ms) of this environment's train whose run has ended: they board no more. */
  trainsLeft?: number[];
}

export interface GateCheckProgress {
  name: string;
  status: CheckStatus | 'missing';
  url: string | null;
  at: string | null;
}

export interface GateApprovalProgress {
  rule: ApprovalRule;
  /** The distinct people counted towards this rule (each person counts towards one rule only). */
  by: string[];
  missing: number;
}

export interface GateProgress {
  /** Every requirement except the train holds (and the gate is neither frozen, expired nor rejected). */
  ready: boolean;
  /** Checks, approvals and stability hold (freezes, expiry, rejection and the train aside). */
  requirementsHold: boolean;
  expired: boolean;
  /** When the gate expires if nothing changes: null while its expiry is held (satisfied, frozen) or not started. */
  expiresAtMs: number | null;
  /** Expiry time left, in seconds (null: the gate has not opened). */
  expiryLeftSeconds: number | null;
  frozen: Freeze | null;
  checks: GateCheckProgress[];
  approvals: GateApprovalProgress[];
  stabilityRemainingSeconds: number;
  /** A hotfix's stability requirement was waived by this person's approval. */
  stabilityWaivedBy: string | null;
  /** The departure the release would board: the one boarding now, else the next one outside a freeze. */
  nextDepartureMs: number | null;
  /** What still stands in the way, in plain words. */
  pending: string[];
  /** Facts worth showing that block nothing (e.g. a hotfix waiver). */
  notes: string[];
}

/** An approve/reject decision as the approval Update receives it. */
export interface ApprovalRequest {
  environment: string;
  decision: Decision;
  by: string;
  roles: string[];
}

/** The part of the release workflow's state that decides whether an approval is accepted. */
export interface ApprovalValidationContext {
  /** The gate of the requested environment; null when that environment has none. */
  gate: GateSpec | null;
  gateState: GateState;
  requestedBy: string;
  approvals: ApprovalRecord[];
  nowMs: number;
  /** Expiry time left at nowMs; null: the gate has not opened. */
  expiryLeftMs: number | null;
  hotfix: boolean;
  hotfixApprovalRole: string | null;
}

/** Why an approval is refused; the API answers with `status`. */
export interface ApprovalRefusal {
  status: 403 | 409;
  message: string;
}
