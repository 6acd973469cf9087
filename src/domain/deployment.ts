// The deployment's state machine, its operator actions and its status, as pure data and
// functions so the workflow, the API and the tests share one definition.
import type { DecisionSignature } from './signing';
import type { Colour, Outcome, Sample, TimelineEvent, Weights, Evidence } from './types';

export type DeploymentPhase =
  | 'starting'
  | 'deploying'
  | 'smoke_testing'
  | 'shifting'
  | 'soaking'
  | 'paused'
  | 'keeping_previous'
  | 'standby'
  | 'retiring'
  | 'rolling_back'
  /** A rollback or retirement has been failing for longer than the plan's escalation time; it keeps trying. */
  | 'stuck'
  | 'completed'
  | 'rolled_back'
  | 'failed'
  | 'cancelled';

export const TERMINAL_PHASES: readonly DeploymentPhase[] = ['completed', 'rolled_back', 'failed', 'cancelled'];

/** A timed wait the workflow is in, which promote/extend act on. */
export type WaitKind = 'soak' | 'keep_previous' | 'standby';

export type ActionName = 'pause' | 'resume' | 'promote' | 'extend' | 'rollback';
export const ACTION_NAMES: readonly ActionName[] = ['pause', 'resume', 'promote', 'extend', 'rollback'];

export interface ActionRequest extends DecisionSignature {
  action: ActionName;
  reason: string;
  /** Who asked (a person's name from config). */
  actor: string;
  /** extend only: seconds added to the current wait. */
  seconds?: number;
}

/** The part of the workflow's state that decides whether an action is valid now. */
export interface ActionContext {
  phase: DeploymentPhase;
  paused: boolean;
  wait: WaitKind | null;
  rollbackRequested: boolean;
}

export const MAX_EXTEND_SECONDS = 7 * 24 * 3600;

const PROGRESSING: readonly DeploymentPhase[] = ['starting', 'deploying', 'smoke_testing', 'shifting', 'soaking', 'paused'];
const ROLLBACK_ALLOWED: readonly DeploymentPhase[] = [...PROGRESSING, 'keeping_previous', 'standby'];

/** Returns why `req` is not valid in `ctx`, or null when it is. Used by the Update validators. */
export function whyActionInvalid(ctx: ActionContext, req: ActionRequest): string | null {
  if (TERMINAL_PHASES.includes(ctx.phase)) return `the deployment has ended (${ctx.phase})`;
  if (ctx.rollbackRequested || ctx.phase === 'rolling_back') return 'the deployment is rolling back';
  switch (req.action) {
    case 'pause':
      if (ctx.paused) return 'the deployment is already paused';
      if (!PROGRESSING.includes(ctx.phase)) return `cannot pause while ${ctx.phase}: traffic is already fully shifted`;
      return null;
    case 'resume':
      return ctx.paused ? null : 'the deployment is not paused';
    case 'promote':
      return ctx.wait ? null : `nothing to promote while ${ctx.phase}: promote ends a soak or wait in progress`;
    case 'extend':
      if (!Number.isInteger(req.seconds) || (req.seconds ?? 0) < 1 || (req.seconds ?? 0) > MAX_EXTEND_SECONDS) {
        return `seconds must be a whole number from 1 to ${MAX_EXTEND_SECONDS}`;
      }
      return ctx.wait ? null : `nothing to extend while ${ctx.phase}: extend adds time to a soak or wait in progress`;
    case 'rollback':
      if (!ROLLBACK_ALLOWED.includes(ctx.phase)) return `cannot roll back while ${ctx.phase}: the previous colour is being retired`;
      return null;
    default: {
      const never: never = req.action;
      return `unknown action ${String(never)}`;
    }
  }
}

export interface StepStatus {
  index: number;
  total: number;
  description: string;
}

export interface SoakStatus {
  kind: WaitKind;
  durationSeconds: number;
  remainingSeconds: number;
  paused: boolean;
}

export interface RollbackInfo {
  reason: string;
  requestedBy: string | null;
  step: number | null;
  evidence: Evidence | null;
}

export interface DeploymentStatus {
  id: string;
  kind: 'deployment';
  service: string;
  environment: string;
  version: string;
  requestedBy: string;
  phase: DeploymentPhase;
  outcome: Outcome | null;
  startedAt: string;
  endedAt: string | null;
  /** The colour serving production now (the new one once it holds 100 %). */
  liveColour: Colour | null;
  /** The colour this deployment puts the new version on. */
  targetColour: Colour | null;
  weights: Weights | null;
  paused: boolean;
  step: StepStatus | null;
  soak: SoakStatus | null;
  analysis: {
    consecutiveFailures: number;
    inconclusiveInStep: number;
    samples: Sample[];
  };
  rollback: RollbackInfo | null;
  error: string | null;
  /** When the new colour took all the traffic, verified (null: not live, or never was). */
  liveAt: string | null;
  /** After live: what the previous colour is doing until it is retired (keep: hot, instant rollback; standby; retire). */
  tail: { stage: 'keep' | 'standby' | 'retire'; colour: Colour; endsAt: string | null } | null;
  /** The earlier deployment whose tail this one took over. */
  tookOver: { from: string; colour: Colour; stage: string } | null;
  /** The later deployment that took over this one's tail. */
  handedOverTo: string | null;
  /** A cancellation, and what it did (roll back; or nothing, the tail finishing). */
  cancel: { at: string; effect: 'rollback' | 'tail_continues' | 'already_safe' } | null;
  /** Set while a rollback or retirement escalated: since when it fails, and the last error. */
  stuck: { since: string; lastError: string | null } | null;
  timeline: TimelineEvent[];
}

export function deploymentId(service: string, environment: string, version: string): string {
  return `deploy:${service}:${environment}:${version}`;
}

export function laneId(service: string, environment: string): string {
  return `lane:${service}:${environment}`;
}
