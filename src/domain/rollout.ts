// The rules of one deployment as pure functions over one state value: what an operator action
// does (`applyAction`), what an analysis sample does (`onSample`), what a cancellation does
// (`onCancel`), when a soak may end, and whether a newer deployment may take over the tail. The
// workflow (workflows/deployment.ts) carries out I/O and feeds the results in; the state is one
// plain value that survives continue-as-new as it is.
//
// The rules, in words:
// - Failing samples count consecutively across steps and into the keep period; only a passing
//   sample resets the count. `failureLimit` in a row roll back.
// - An inconclusive sample during a soak extends it by one interval; more than
//   `inconclusiveLimit` in one soak fail safe (roll back). During keep it neither extends nor
//   fails: only a real breach rolls back a version that is already live.
// - A soak ends when its time is up and its last sample did not fail (pass or inconclusive):
//   a soak never ends on a failing sample, even when promoted.
// - Cancelling before live, or while the previous colour is still hot (keep), rolls back:
//   rollback is instant there. Cancelling during standby or retirement changes nothing: the new
//   version is live and the tail finishes (standby, then retire the old colour).
// - A newer deployment of the same service and environment may take over the tail (keep,
//   standby or retire), never a deployment still progressing or rolling back.
import { extend, extendFrom, finish, hold, resume, startCountdown, type Countdown } from './countdown';
import {
  TERMINAL_PHASES,
  whyActionInvalid,
  type ActionRequest,
  type DeploymentPhase,
  type RollbackInfo,
  type WaitKind,
} from './deployment';
import { formatDuration } from './durations';
import { weightAt } from './plan';
import type { Colour, Evidence, Outcome, RolloutPlan, Sample, Verdict, Weights } from './types';

/** Where the flow is; a new run (after continue-as-new or a crash) resumes here. */
export type Stage = 'deploy' | 'steps' | 'keep' | 'standby' | 'retire' | 'rollback' | 'done';

export interface Wait extends Countdown {
  kind: WaitKind;
}

/** The converge-to-safe routine's own record: what it drives towards, since when, how it is going. */
export interface SafetyProgress {
  goal: 'rollback' | 'retire';
  /** Workflow ms when converging started (escalation counts from here). */
  since: number;
  /** When traffic was moved onto the safe colour: the drained colour is scaled down only after clients stopped using it. */
  trafficMovedAt: number | null;
  /** Set once it has failed for longer than the plan's escalation time. */
  stuckSince: number | null;
  lastError: string | null;
  attempts: number;
}

export interface AnalysisState {
  /** Consecutive failing samples (across steps; only a pass resets it). */
  consecutiveFailures: number;
  /** Inconclusive samples in the current soak. */
  inconclusiveInSoak: number;
  /** Verdict of the last sample of the current soak (null before its first). */
  lastInSoak: Verdict | null;
  samples: Sample[];
}

export interface CancelRecord {
  at: string;
  /** What the cancellation did: roll back, or nothing because the new version is live and its tail finishes. */
  effect: 'rollback' | 'tail_continues' | 'already_safe';
}

export interface RolloutState {
  stage: Stage;
  phase: DeploymentPhase;
  outcome: Outcome | null;
  startedAt: string;
  endedAt: string | null;
  /** The colour that served all traffic when the deployment started (the previous version). */
  liveColour: Colour | null;
  /** The colour this deployment puts the new version on. */
  targetColour: Colour | null;
  weights: Weights | null;
  /** The previous colour as observed at the start: the capacity a rollback restores, and its revision. */
  previous: { desiredCount: number; taskDefinitionArn: string } | null;
  /** The task definition revision registered for this deployment. */
  newTaskDefinitionArn: string | null;
  stepIndex: number;
  wait: Wait | null;
  paused: boolean;
  /** Next sample due (workflow ms) while analysing. */
  nextSampleAt: number | null;
  analysis: AnalysisState;
  /** Why this deployment rolls back (an operator, analysis, a failed check, a cancellation). */
  rollback: RollbackInfo | null;
  cancel: CancelRecord | null;
  /** When the new colour took all the traffic, verified: the deployment is live. */
  liveAt: string | null;
  /** This deployment took over the tail of an earlier one. */
  tookOver: { from: string; colour: Colour; stage: string } | null;
  /** A later deployment took over this one's tail. */
  handedOver: { to: string; at: string } | null;
  safety: SafetyProgress | null;
  /**
   * Set just before the first write to AWS (conservatively: the write may not have landed).
   * Before it, a failure has changed nothing and there is nothing to undo.
   */
  writesStarted: boolean;
  /** Set just before the first traffic shift: the new colour may have served, so clients must drain off it. */
  trafficTouched: boolean;
  error: string | null;
}

export interface RolloutEvent {
  type: string;
  message: string;
}

export interface Transition {
  state: RolloutState;
  events: RolloutEvent[];
}

const MAX_SAMPLES = 30;
const PROGRESSING: readonly Stage[] = ['deploy', 'steps'];

export function initialRollout(startedAt: string): RolloutState {
  return {
    stage: 'deploy',
    phase: 'starting',
    outcome: null,
    startedAt,
    endedAt: null,
    liveColour: null,
    targetColour: null,
    weights: null,
    previous: null,
    newTaskDefinitionArn: null,
    stepIndex: 0,
    wait: null,
    paused: false,
    nextSampleAt: null,
    analysis: { consecutiveFailures: 0, inconclusiveInSoak: 0, lastInSoak: null, samples: [] },
    rollback: null,
    cancel: null,
    liveAt: null,
    tookOver: null,
    handedOver: null,
    safety: null,
    writesStarted: false,
    trafficTouched: false,
    error: null,
  };
}

export function isLive(s: RolloutState): boolean {
  return s.liveAt !== null && s.rollback === null;
}

/** Why an operator action is refused now, or null (the Update's validator). */
export function whyRefused(s: RolloutState, req: ActionRequest): string | null {
  return whyActionInvalid({ phase: s.phase, paused: s.paused, wait: s.wait?.kind ?? null, rollbackRequested: s.rollback !== null }, req);
}

function waitWord(kind: WaitKind | undefined): string {
  return kind ? kind.replace('_', ' ') : 'wait';
}

/** An accepted operator action (validated by whyRefused). */
export function applyAction(s: RolloutState, req: ActionRequest, nowMs: number): Transition {
  const by = `${req.actor}${req.reason ? ` (${req.reason})` : ''}`;
  switch (req.action) {
    case 'pause': {
      const wait = s.wait ? { ...s.wait, ...hold(s.wait, nowMs) } : null;
      return { state: { ...s, paused: true, wait, phase: s.stage === 'steps' ? 'paused' : s.phase }, events: [{ type: 'paused', message: `Paused by ${by}` }] };
    }
    case 'resume': {
      const wait = s.wait ? { ...s.wait, ...resume(s.wait, nowMs) } : null;
      const phase: DeploymentPhase = s.phase === 'paused' ? (wait ? 'soaking' : 'shifting') : s.phase;
      return { state: { ...s, paused: false, wait, phase }, events: [{ type: 'resumed', message: `Resumed by ${by}` }] };
    }
    case 'promote': {
      // Promote ends the wait now, and un-pauses; a soak still ends only on a non-failing sample.
      const wait = s.wait ? { ...s.wait, ...finish(resume(s.wait, nowMs), nowMs) } : null;
      const phase: DeploymentPhase = s.phase === 'paused' ? 'soaking' : s.phase;
      const note = s.wait?.kind === 'soak' && s.analysis.lastInSoak === 'fail' ? '; the last sample failed, so the soak ends at the next sample that does not' : '';
      return { state: { ...s, wait, paused: false, phase }, events: [{ type: 'promoted', message: `${waitWord(s.wait?.kind)} ended early by ${by}${note}` }] };
    }
    case 'extend': {
      const ms = (req.seconds ?? 0) * 1000;
      const wait = s.wait ? { ...s.wait, ...extend(s.wait, ms, nowMs) } : null;
      return { state: { ...s, wait }, events: [{ type: 'extended', message: `${waitWord(s.wait?.kind)} extended by ${formatDuration(req.seconds ?? 0)} by ${by}` }] };
    }
    case 'rollback': {
      const rollback: RollbackInfo = { reason: `rollback requested by ${by}`, requestedBy: req.actor, step: s.stage === 'steps' ? s.stepIndex + 1 : null, evidence: null };
      return { state: { ...s, rollback }, events: [{ type: 'rollback_requested', message: rollback.reason }] };
    }
    default: {
      const never: never = req.action;
      throw new Error(`unhandled action ${String(never)}`);
    }
  }
}

/**
 * One analysis sample. Returns the rollback it decides, if any (the caller then rolls back).
 * `weight` is the new colour's share when the sample was taken. `slotMs`, when given, is the
 * moment the sample was due: an inconclusive sample taken as its soak's time was up extends the
 * soak to one interval after that slot (the next sample's), not after the moment it was judged.
 */
export function onSample(s: RolloutState, sample: Sample, plan: RolloutPlan, nowMs: number, slotMs?: number): Transition & { rollback: RollbackInfo | null } {
  const samples = [...s.analysis.samples, sample].slice(-MAX_SAMPLES);
  const inSoak = s.wait?.kind === 'soak';
  let analysis: AnalysisState = { ...s.analysis, samples, lastInSoak: inSoak ? sample.verdict : s.analysis.lastInSoak };
  let wait = s.wait;
  // While the previous colour is kept hot, a passing sample an interval is not news: the
  // timeline records what is (the samples themselves are in the status).
  const quiet = s.wait?.kind === 'keep_previous' && sample.verdict === 'pass';
  const events: RolloutEvent[] = quiet ? [] : [{ type: `analysis_${sample.verdict}`, message: `Analysis at ${sample.weight} %: ${sample.verdict} — ${sample.message}` }];
  let rollback: RollbackInfo | null = null;
  if (sample.verdict === 'pass') {
    analysis = { ...analysis, consecutiveFailures: 0 };
  } else if (sample.verdict === 'fail') {
    const n = s.analysis.consecutiveFailures + 1;
    analysis = { ...analysis, consecutiveFailures: n };
    if (n >= plan.analysis.failureLimit) {
      rollback = {
        reason: `${sample.message} (${n} consecutive failing samples, the last at ${sample.weight} %)`,
        requestedBy: null,
        step: sample.step,
        evidence: sample.evidence ?? null,
      };
    }
  } else if (inSoak && !s.paused && wait) {
    const n = s.analysis.inconclusiveInSoak + 1;
    analysis = { ...analysis, inconclusiveInSoak: n };
    if (n > plan.analysis.inconclusiveLimit) {
      const evidence: Evidence = { metric: 'inconclusive_samples', value: n, threshold: plan.analysis.inconclusiveLimit };
      rollback = {
        reason: `failing safe: ${n} inconclusive samples at ${sample.weight} % (limit ${plan.analysis.inconclusiveLimit}); last: ${sample.message}`,
        requestedBy: null,
        step: sample.step,
        evidence,
      };
    } else {
      // An inconclusive sample proves nothing: the soak lasts one more interval.
      const interval = plan.analysis.intervalSeconds * 1000;
      wait = { ...wait, ...(slotMs !== undefined && wait.leftMs <= 0 ? extendFrom(wait, interval, slotMs, nowMs) : extend(wait, interval, nowMs)) };
    }
  }
  return { state: { ...s, analysis, wait, rollback: rollback ?? s.rollback }, events, rollback };
}

/**
 * Whether the current wait may end: its time is up (its timer fired, or it was promoted: decided
 * by what happened, never by comparing clocks), and, for a soak, its last sample did not fail.
 */
export function waitMayEnd(s: RolloutState): boolean {
  if (!s.wait || s.wait.leftMs > 0) return false;
  return s.wait.kind !== 'soak' || s.analysis.lastInSoak !== 'fail';
}

/** The wait's timer fired: its time is up. */
export function waitTimeUp(s: RolloutState, nowMs: number): RolloutState {
  return s.wait ? { ...s, wait: { ...s.wait, ...finish(s.wait, nowMs) } } : s;
}

/** Starts a timed wait (a soak, keep or standby), held if the deployment is paused. */
export function startWait(s: RolloutState, kind: WaitKind, durationSeconds: number, nowMs: number, analyseEverySeconds: number | null): RolloutState {
  const wait: Wait = { kind, ...startCountdown(durationSeconds * 1000, nowMs, !s.paused) };
  const analysis = kind === 'soak' ? { ...s.analysis, inconclusiveInSoak: 0, lastInSoak: null } : s.analysis;
  return { ...s, wait, analysis, nextSampleAt: analyseEverySeconds === null ? null : nowMs + analyseEverySeconds * 1000 };
}

/** The workflow run was cancelled: what that means depends on where the deployment is. */
export function onCancel(s: RolloutState, nowMs: number): Transition & { rollBack: boolean } {
  const at = new Date(nowMs).toISOString();
  if (TERMINAL_PHASES.includes(s.phase) || s.stage === 'done') return { state: s, events: [], rollBack: false };
  if (s.stage === 'rollback' || s.rollback) {
    return { state: { ...s, cancel: { at, effect: 'already_safe' } }, events: [{ type: 'cancel_requested', message: 'Cancel requested while rolling back: the rollback finishes' }], rollBack: false };
  }
  if (PROGRESSING.includes(s.stage) || s.stage === 'keep') {
    const where = s.stage === 'keep' ? `while ${s.liveColour} is still hot` : 'before the new version was live';
    const rollback: RollbackInfo = { reason: `the deployment was cancelled ${where}`, requestedBy: null, step: s.stage === 'steps' ? s.stepIndex + 1 : null, evidence: null };
    return {
      state: { ...s, rollback, cancel: { at, effect: 'rollback' } },
      events: [{ type: 'cancel_requested', message: `Cancelled ${where}: rolling back to ${s.liveColour ?? 'the previous version'}` }],
      rollBack: true,
    };
  }
  // Standby or retiring: the new version is live; the tail (standby, then retirement) finishes.
  return {
    state: { ...s, cancel: { at, effect: 'tail_continues' } },
    events: [{ type: 'cancel_requested', message: `Cancel requested during ${s.stage}: ${s.targetColour} stays live with the new version; ${s.liveColour}'s ${s.stage === 'standby' ? 'standby runs to its end and it is then retired' : 'retirement finishes'}` }],
    rollBack: false,
  };
}

/** Why a newer deployment may not take over this one's tail now, or null. */
export function whyNoTakeover(s: RolloutState, by: string): string | null {
  if (s.handedOver) return `its tail was already taken over by ${s.handedOver.to}`;
  if (s.stage === 'done' || TERMINAL_PHASES.includes(s.phase)) return 'it has ended';
  if (s.rollback || s.stage === 'rollback') return `it is rolling back (${s.rollback?.reason ?? 'rollback in progress'}); ${by} may start once it has ended`;
  if (PROGRESSING.includes(s.stage)) return `it is not live yet (phase ${s.phase}); one deployment per service and environment progresses at a time`;
  return null;
}

/** A newer deployment takes over the tail: this deployment stops touching the colours and ends. */
export function handOver(s: RolloutState, to: string, nowMs: number): Transition {
  const at = new Date(nowMs).toISOString();
  const what = s.stage === 'keep' ? `${s.liveColour} was still hot` : s.stage === 'standby' ? `${s.liveColour} was on standby` : `${s.liveColour} was being retired`;
  return {
    state: { ...s, handedOver: { to, at } },
    events: [{ type: 'tail_taken_over', message: `Tail taken over by ${to} (${what}); ${s.liveColour} is now ${to}'s to deploy onto` }],
  };
}

/** The weight on the new colour while step `index` runs. */
export function stepWeight(plan: RolloutPlan, index: number): number {
  return weightAt(plan.steps, index);
}
