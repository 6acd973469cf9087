/**
 * Blue/green deployment of one version of one service into one environment.
 *
 * The runbook: find the live colour from the router's weights (and take over the tail of the
 * deployment that put it there) → deploy the new image on the idle colour, wait until it runs
 * the revision registered for this deployment, smoke-test it → shift traffic step by step
 * (write, verify, wait for DNS), analysing every soak → at 100 % verified the deployment is
 * LIVE (its lane, release and train move on) → its tail: keep the previous colour hot (still
 * analysing; rollback is instant), then on standby, then retire it.
 *
 * Invariants:
 * - The rules live in src/domain/rollout.ts (actions, samples, cancellation, takeover) as pure
 *   functions over one state value `s`; this file does the I/O and feeds the results in.
 * - Everything a handler touches (state, scopes, the Slack thread) exists before any handler
 *   is registered: an Update delivered in the first workflow task, or in the first task after
 *   continue-as-new, acts like any other. A validator that accepts promises the handler acts.
 * - The forward flow runs one stage at a time in a scope that only this workflow cancels (a
 *   rollback request, a cancellation before standby, a takeover). Cancelling the run is a
 *   fact fed to `onCancel`: before live and during keep it rolls back; during standby and
 *   retirement the new version stays live and the tail finishes.
 * - Safety converges from what is observed (`converge`): rollback reads the previous colour's
 *   real capacity and restores it, waits until it is stable, only then moves traffic, verifies,
 *   waits out DNS (TTL + margin), then scales the bad colour down; retirement scales the old
 *   colour down only while every request goes to the new one. Each step is retried without end;
 *   after the plan's escalation time the phase is `stuck`, with the last error and an alert.
 * - Mutating activities use WAIT_CANCELLATION_COMPLETED and every AWS call has its own timeout
 *   and the activity's abort signal: a cancelled or timed-out write has really finished before
 *   the next write, so a stale write never lands last.
 * - Slack (thread.ts) is told, never waited on: safety never depends on it.
 * - Region-pinned: every AWS call (ECS, traffic, metrics, smoke tests) runs on the task queue
 *   of the environment's region, `<queue>-<region>` (src/domain/regions.ts); Slack and tail
 *   takeovers run on the workflow's own queue. A region no worker serves holds its activity
 *   scheduled: nothing is written there until a worker for that region polls.
 * - History stays bounded: sampling and retry loops continue-as-new carrying `s` as it is.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  log,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import { judgedSample, noDataSinceShiftSample, providerErrorSample, sinceShiftLabel, windowSinceShift } from '../src/domain/analysis';
import { leftMs } from '../src/domain/countdown';
import { TERMINAL_PHASES, type ActionRequest, type DeploymentPhase, type DeploymentStatus, type RollbackInfo, type WaitKind } from '../src/domain/deployment';
import { formatDuration } from '../src/domain/durations';
import type { RunCard } from '../src/domain/notices';
import { appendEvent } from '../src/domain/timeline';
import { whySignatureRefused } from '../src/domain/signing';
import { causeMessage, ErrorType } from '../src/domain/errors';
import { describeStep } from '../src/domain/plan';
import { regionQueue } from '../src/domain/regions';
import {
  applyAction,
  handOver,
  initialRollout,
  onCancel,
  onSample,
  startWait,
  stepWeight,
  waitMayEnd,
  waitTimeUp,
  whyNoTakeover,
  whyRefused,
  type RolloutEvent,
  type RolloutState,
  type SafetyProgress,
  type Stage,
} from '../src/domain/rollout';
import { otherColour, weightsFor, type Colour, type DeploymentSpec, type Outcome, type Sample, type TimelineEvent, type Weights } from '../src/domain/types';
import {
  BatonEnvironment,
  BatonBreakGlass,
  BatonKind,
  BatonOutcome,
  BatonPhase,
  BatonService,
  BatonVersion,
  deploymentActionUpdate,
  deploymentMilestoneSignal,
  deploymentStatusQuery,
  deploymentTakeoverUpdate,
  type DeploymentMilestone,
  type TakeoverRequest,
  type TakeoverResult,
} from './messages';
import { FINAL_STATUS_PATCH, keepFinalStatus } from './final-status';
import { CONVERGE, convergeBackoffMs } from './converge';
import { foldPatches } from './patches';
import { timedCondition } from './timed-condition';
import { BATCHED_REPLIES_PATCH, BOUNDED_UPDATES_PATCH, newThreadState, PARENT, runThread, TIMERS_OUTLIVE_CLOSE_PATCH, YIELD_TO_PATH_PATCH, type ThreadState } from './thread';

export interface DeploymentState extends RolloutState {
  timeline: TimelineEvent[];
  /** Where the run's Slack messages are, so every run of this deployment updates the same ones. */
  slack?: ThreadState;
  /**
   * Workflow ms just before this deployment's first traffic shift was sent (conservatively: the
   * new version can have served no earlier); analysis reads no datapoints from before it. null
   * until then; absent in a state carried from a run that did not record it: unknown.
   */
  firstShiftAt?: number | null;
}

export interface DeploymentInput {
  spec: DeploymentSpec;
  /** The release this deployment belongs to: told when it is live and when it ends. */
  owner?: string | null;
  /** Carried over by continue-as-new. */
  state?: DeploymentState;
  /** The lane that started it: told when it is live (or ends without going live), then it frees the lane. */
  lane?: string | null;
  /** Continue-as-new once the history reaches this many events (default 1800, so a run stays under 2000). */
  maxHistoryEvents?: number;
}

export interface DeploymentResult {
  id: string;
  outcome: Outcome;
  phase: DeploymentPhase;
  rollback: RollbackInfo | null;
  error: string | null;
  liveAt: string | null;
  handedOverTo: string | null;
}

/** How long a run waits for Slack before continuing as new, and before it ends (Slack may be down). */
const SLACK_PAUSE_MS = 5_000;
const SLACK_CLOSE_MS = 30_000;
const HISTORY_HEADROOM_PATCH = 'history-headroom';
const ANALYSIS_WINDOW_PATCH = 'analysis-window-from-first-shift';
const EXTEND_FROM_SLOT_PATCH = 'inconclusive-extends-from-slot';
const SAMPLE_TIMER_ENDS_WAIT_PATCH = 'sample-timer-ends-wait';
const VERIFY_SPEC_PATCH = 'verify-spec';
/**
 * The search attribute BatonPhase lists the phase a run waits in. A shift whose weights are
 * written and verified within its one call (ALB) is over before visibility would show it: it is
 * not listed, so between two soaks the listed phase stays `soaking` and nothing is written (two
 * upserts a step before, each holding up the step's next call by ~1.5 ms on the dev server). A
 * shift that waits for DNS to sync (Route 53) is listed when that wait begins. Runs started
 * before list every phase as it begins, as their histories say.
 */
const QUICK_PHASES_UNLISTED_PATCH = 'quick-phases-unlisted';
/**
 * An operator's pause, resume or promote changes the phase in the handler, not through the
 * path: it is listed at once, so a paused deployment is found by BatonPhase = 'paused'. Runs
 * started before kept the phase listed before the action until the path listed another.
 */
const ACTIONS_LIST_PHASE_PATCH = 'actions-list-phase';
/**
 * The fold (workflows/patches.ts): a deployment started since takes every patch below as applied
 * behind this one marker (it took eleven: 22 events, five markers in its first task), and its
 * path awaits less: it awaits `maybeContinueAsNew` only when it is due, and a timed wait is a
 * `timedCondition` (workflows/timed-condition.ts). Runs started before check each patch and
 * await as before.
 */
const FOLD_PATCH = 'deployment-fold-1';
const FOLDED_PATCHES = [
  HISTORY_HEADROOM_PATCH,
  ANALYSIS_WINDOW_PATCH,
  EXTEND_FROM_SLOT_PATCH,
  QUICK_PHASES_UNLISTED_PATCH,
  ACTIONS_LIST_PHASE_PATCH,
  SAMPLE_TIMER_ENDS_WAIT_PATCH,
  VERIFY_SPEC_PATCH,
  BOUNDED_UPDATES_PATCH,
  BATCHED_REPLIES_PATCH,
  YIELD_TO_PATH_PATCH,
  TIMERS_OUTLIVE_CLOSE_PATCH,
  FINAL_STATUS_PATCH,
] as const;
/** Routine updates of the run's Slack message (samples, the countdown) per soak, keep or standby. */
const ROUTINE_UPDATES_PER_WAIT = 4;
/** A wait ending sooner than this is not quiet enough for a Slack call (its task could hold up the step after it). */
const QUIET_MARGIN_MS = 500;
const MAX_TIMELINE = 200;

const NOT_RETRYABLE = [ErrorType.InfrastructureMismatch, ErrorType.RevisionReverted, ErrorType.RolloutFailed];
const RETRY_AWS: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: NOT_RETRYABLE };
/** Every AWS call inside has a shorter timeout of its own, and the activity heartbeats so a cancel reaches it. */
const AWS: ActivityOptions = { startToCloseTimeout: '60s', heartbeatTimeout: '20s', retry: RETRY_AWS, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };

/** Activities that act on no AWS region (other runs, through Temporal): the workflow's own queue. */
const act = proxyActivities<Activities>(AWS);

/** Thrown inside the forward flow when analysis or a failed check decides to roll back. */
class RollbackNeeded extends Error {
  constructor(readonly info: RollbackInfo) {
    super(info.reason);
  }
}

export async function deployment(input: DeploymentInput): Promise<DeploymentResult> {
  const { spec } = input;
  const { plan } = spec;
  // The history is checked after each sample and step; a run's end after its last check (standby,
  // retirement, the last Slack messages) writes up to ~100 more events: 1800 keeps a run under
  // 2000. Runs started with 2000 keep it, so their histories replay.
  const patches = foldPatches(FOLD_PATCH, FOLDED_PATCHES);
  const maxHistory = input.maxHistoryEvents ?? (patches.applied(HISTORY_HEADROOM_PATCH) ? 1800 : 2000);
  const now = () => Date.now(); // workflow time: deterministic
  const iso = (ms = now()) => new Date(ms).toISOString();
  const title = `Deploy ${spec.service} ${spec.version} to ${spec.environment}`;
  // Region-pinned work (src/domain/regions.ts): each AWS call runs on the queue of the region
  // it acts on (the environment's), served only by workers configured for that region.
  const inRegion = (region: string) => proxyActivities<Activities>({ ...AWS, taskQueue: regionQueue(workflowInfo().taskQueue, region) });
  const compute = inRegion(spec.compute.region); // ECS, and smoke tests of the services there
  const traffic = inRegion(spec.traffic.region);
  const metrics = inRegion(spec.metrics.region);

  // ---------------------------------------------------------------- state and scopes, before any handler
  let s: DeploymentState = input.state ?? { ...initialRollout(iso()), timeline: [], firstShiftAt: null };
  s.slack ??= newThreadState();
  /** Bumped by every handler so waits wake up and plan again. */
  let changes = 0;
  // The forward flow's scope is cancelled only by this workflow (never by the run's
  // cancellation directly, which is a fact for onCancel to judge): its parent shields it.
  const shield = new CancellationScope({ cancellable: false });
  let forward = new CancellationScope({ cancellable: true, parent: shield });
  /**
   * While the path waits (a soak's or a tail's timer, a pause): when that wait ends (workflow
   * time; Infinity for a wait on an operator). Slack's calls go then, not beside a step's
   * activities, whose completions they would hold up.
   */
  let pathWaitEndsAt: number | null = null;
  const thread = runThread({
    state: s.slack,
    notify: spec.notify,
    runId: spec.id,
    card,
    quiet: () => pathWaitEndsAt !== null && pathWaitEndsAt - now() > QUIET_MARGIN_MS,
    pathWakesAt: () => pathWaitEndsAt,
    applied: patches.applied,
  });
  /** Waits for `fn` (until `ms`, if given) with the path quiet meanwhile. */
  async function quietly(fn: () => boolean, ms?: number, opts?: { summary: string }): Promise<boolean> {
    pathWaitEndsAt = ms === undefined ? Infinity : now() + ms;
    try {
      if (ms === undefined) {
        await condition(fn);
        return true;
      }
      return await (patches.folded ? timedCondition(fn, ms, opts) : condition(fn, ms, opts ?? {}));
    } finally {
      pathWaitEndsAt = null;
    }
  }

  // ---------------------------------------------------------------- status and UI
  const target = (): Colour => s.targetColour ?? 'green';
  const previous = (): Colour => s.liveColour ?? 'blue';

  function tail(): DeploymentStatus['tail'] {
    if (s.liveAt === null || s.rollback || s.handedOver || !['keep', 'standby', 'retire'].includes(s.stage)) return null;
    const due = s.wait && s.wait.since !== null ? s.wait.since + s.wait.leftMs : null;
    return { stage: s.stage as 'keep' | 'standby' | 'retire', colour: previous(), endsAt: due === null ? null : iso(due) };
  }

  function status(): DeploymentStatus {
    const step = plan.steps[s.stepIndex];
    return {
      id: spec.id,
      kind: 'deployment',
      service: spec.service,
      environment: spec.environment,
      version: spec.version,
      requestedBy: spec.requestedBy,
      phase: s.phase,
      outcome: s.outcome,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      // The colour serving production now: the new one once it holds all the traffic.
      liveColour: s.targetColour && s.weights?.[s.targetColour] === 100 ? s.targetColour : s.liveColour,
      targetColour: s.targetColour,
      weights: s.weights,
      paused: s.paused,
      step: s.stage === 'steps' && step ? { index: s.stepIndex + 1, total: plan.steps.length, description: describeStep(step, target()) } : null,
      soak: s.wait
        ? { kind: s.wait.kind, durationSeconds: Math.round(s.wait.totalMs / 1000), remainingSeconds: Math.ceil(leftMs(s.wait, now()) / 1000), paused: s.wait.since === null }
        : null,
      analysis: { consecutiveFailures: s.analysis.consecutiveFailures, inconclusiveInStep: s.analysis.inconclusiveInSoak, samples: s.analysis.samples.slice(-10) },
      rollback: s.rollback,
      error: s.error,
      liveAt: s.liveAt,
      tail: tail(),
      tookOver: s.tookOver,
      handedOverTo: s.handedOver?.to ?? null,
      cancel: s.cancel,
      stuck: s.safety?.stuckSince != null ? { since: iso(s.safety.stuckSince), lastError: s.safety.lastError } : null,
      timeline: s.timeline.slice(-50),
    };
  }

  /** The facts the Temporal UI's details and the Slack message both show, one a line. */
  function facts(): string[] {
    const lines: string[] = [];
    if (s.liveColour) lines.push(`Colours: ${s.liveColour} (previous) → ${target()} (new), ${spec.image}`);
    const step = plan.steps[s.stepIndex];
    if (s.stage === 'steps' && step) lines.push(`Step ${s.stepIndex + 1}/${plan.steps.length}: ${describeStep(step, target())}`);
    if (s.liveAt) lines.push(`Live since ${s.liveAt}`);
    if (s.tookOver) lines.push(`Took over the tail of ${s.tookOver.from}`);
    if (s.handedOver) lines.push(`Tail taken over by ${s.handedOver.to}`);
    const last = s.analysis.samples[s.analysis.samples.length - 1];
    if (last) lines.push(`Last analysis: ${last.verdict} — ${last.message}`);
    if (s.safety?.stuckSince != null) lines.push(`STUCK since ${iso(s.safety.stuckSince)}: ${s.safety.lastError ?? ''}`);
    return lines;
  }

  function refreshDetails(): void {
    const lines = [`**${title}** — phase \`${s.phase}\`${s.outcome ? `, outcome **${s.outcome.toUpperCase()}**` : ''}`, ...facts().map((f) => `- ${f}`)];
    if (s.weights) lines.push(`- Weights: blue ${s.weights.blue} % · green ${s.weights.green} %`);
    if (s.wait) lines.push(`- ${s.wait.kind.replace('_', ' ')}: ${formatDuration(leftMs(s.wait, now()) / 1000)} left of ${formatDuration(s.wait.totalMs / 1000)}${s.paused ? ' (paused)' : ''}`);
    if (s.rollback) lines.push(`- Rollback: ${s.rollback.reason}`);
    if (s.error) lines.push(`- Error: ${s.error}`);
    setCurrentDetails(lines.join('\n'));
  }

  function event(type: string, message: string): void {
    appendEvent(s.timeline, { at: iso(), type, message }, MAX_TIMELINE);
    log.info(message, { type });
    refreshDetails();
    // A sample is routine for the run's message (at the wait's pace); a failing one also replies at once.
    if (type.startsWith('analysis_')) thread.refresh();
    else thread.touch();
  }

  /** Takes a pure transition's result: the new state and its events. */
  function take(r: { state: RolloutState; events: RolloutEvent[] }): void {
    s = { ...s, ...r.state };
    for (const e of r.events) event(e.type, e.message);
  }

  /** Lists the current phase in BatonPhase, unless it is listed already (the run's search attributes hold what it last wrote). */
  function listPhase(): void {
    if (workflowInfo().typedSearchAttributes.get(BatonPhase) === s.phase) return;
    upsertSearchAttributes([{ key: BatonPhase, value: s.phase }]);
  }

  /** `quick`: a phase that may be over within one call; listed only when a wait in it begins (listPhase). */
  function setPhase(phase: DeploymentPhase, opts: { quick?: boolean } = {}): void {
    if (s.phase === phase) return;
    s.phase = phase;
    if (!(opts.quick && patches.applied(QUICK_PHASES_UNLISTED_PATCH))) listPhase();
    refreshDetails();
    thread.touch();
  }

  function finish(outcome: Outcome, phase: DeploymentPhase): void {
    s.outcome = outcome;
    s.endedAt = iso();
    s.wait = null;
    s.stage = 'done';
    setPhase(phase);
    upsertSearchAttributes([{ key: BatonOutcome, value: outcome }]);
    refreshDetails();
    thread.touch(PARENT, true);
  }

  /** The run's Slack message: what an operator glancing at the channel needs. */
  function card(): RunCard {
    const t = target();
    const lines = facts();
    if (s.paused) lines.push('Paused');
    return {
      kind: 'deployment',
      id: spec.id,
      title,
      requestedBy: spec.requestedBy,
      phase: s.phase,
      outcome: s.outcome,
      progress: s.targetColour && s.weights ? { percent: s.weights[t], label: `of traffic on ${t}` } : null,
      countdown: s.wait
        ? { label: waitLabel(s.wait.kind), remainingSeconds: Math.ceil(leftMs(s.wait, now()) / 1000), totalSeconds: Math.round(s.wait.totalMs / 1000), paused: s.wait.since === null }
        : null,
      lines,
      note: s.rollback ? `Rollback: ${s.rollback.reason}` : s.error,
    };
  }

  function waitLabel(kind: WaitKind): string {
    if (kind === 'soak') return `Soak at ${stepWeight(plan, s.stepIndex)} %`;
    return kind === 'keep_previous' ? `Keeping ${previous()} hot` : `${previous()} on standby`;
  }

  // ---------------------------------------------------------------- handlers (state and scopes exist)
  setHandler(deploymentStatusQuery, status);
  const usedSignatures = new Set<string>();
  setHandler(
    deploymentActionUpdate,
    (req: ActionRequest) => {
      if (req.signature) usedSignatures.add(req.signature);
      thread.reply(`:raising_hand: ${req.action}${req.action === 'extend' ? ` by ${formatDuration(req.seconds ?? 0)}` : ''}, by ${req.actor}${req.reason ? ` (${req.reason})` : ''}`);
      const phase = s.phase;
      take(applyAction(s, req, now()));
      if (s.phase !== phase && patches.applied(ACTIONS_LIST_PHASE_PATCH)) listPhase();
      if (req.action === 'rollback') forward.cancel();
      changes++;
      return status();
    },
    {
      validator: (req: ActionRequest) => {
        // Only the API, which has checked the policy, signs actions: a raw Update to Temporal is refused.
        const unsigned = spec.decisionKey ? whySignatureRefused(spec.decisionKey, spec.id, deploymentActionUpdate.name, req, usedSignatures) : null;
        if (unsigned) throw ApplicationFailure.create({ type: ErrorType.DecisionRefused, message: `${req.action}: ${unsigned}`, nonRetryable: true, details: [{ status: 403 }] });
        const why = whyRefused(s, req);
        if (why) throw ApplicationFailure.create({ type: ErrorType.InvalidTransition, message: `${req.action}: ${why}`, nonRetryable: true });
      },
    },
  );
  setHandler(
    deploymentTakeoverUpdate,
    async (req: TakeoverRequest): Promise<TakeoverResult> => {
      const stage = s.stage;
      take(handOver(s, req.by, now()));
      thread.reply(`:handshake: Tail taken over by ${req.by}: ${previous()} is its to deploy onto`);
      forward.cancel();
      changes++;
      // Answer only once this deployment has stopped touching the colours.
      await condition(() => s.stage === 'done');
      return { from: spec.id, colour: previous(), stage };
    },
    {
      validator: (req: TakeoverRequest) => {
        const why = whyNoTakeover(s, req.by);
        if (why) throw ApplicationFailure.create({ type: ErrorType.InvalidTransition, message: `${req.by} cannot take over ${spec.id}: ${why}`, nonRetryable: true });
      },
    },
  );
  // Cancelling the run is a fact: where the deployment is decides what it means.
  CancellationScope.current().cancelRequested.catch(() => {
    const r = onCancel(s, now());
    take(r);
    if (r.rollBack) forward.cancel();
    changes++;
  });

  // ---------------------------------------------------------------- milestones
  async function tell(m: Omit<DeploymentMilestone, 'deploymentId' | 'at'>): Promise<void> {
    // The lane ends when the deployment is live: after that only the owner is still listening.
    const watchers = [m.milestone === 'live' || s.liveAt === null ? input.lane : null, input.owner].filter((w): w is string => !!w);
    for (const id of watchers) {
      try {
        await getExternalWorkflowHandle(id).signal(deploymentMilestoneSignal, { deploymentId: spec.id, at: iso(), ...m });
      } catch (err) {
        log.info('a watcher was not told (it has ended)', { watcher: id, error: String(err) });
      }
    }
  }

  // ---------------------------------------------------------------- history bound
  function continueAsNewDue(info = workflowInfo()): boolean {
    return info.continueAsNewSuggested || info.historyLength >= maxHistory;
  }
  /** Whether to await maybeContinueAsNew: when it is due; runs before the fold awaited it every time. */
  const mayContinueAsNew = (): boolean => !patches.folded || continueAsNewDue();

  async function maybeContinueAsNew(): Promise<void> {
    const info = workflowInfo();
    if (!continueAsNewDue(info)) return;
    await condition(allHandlersFinished);
    // A Slack call in flight belongs to this run: wait briefly, else continue at the next chance.
    if (!(await thread.pause(SLACK_PAUSE_MS))) return;
    event('continued_as_new', `History reached ${info.historyLength} events; continuing as a new run`);
    await continueAsNew<typeof deployment>({ spec, owner: input.owner, lane: input.lane, state: s, maxHistoryEvents: input.maxHistoryEvents });
  }

  // ---------------------------------------------------------------- waits and analysis
  /**
   * Waits `durationSeconds` of un-paused time (resuming a carried wait if there is one),
   * honouring promote, extend and pause. With `analyse`, samples the new colour every interval;
   * a soak ends only on a sample that did not fail.
   */
  async function timedWait(kind: WaitKind, durationSeconds: number, analyse: boolean): Promise<void> {
    if (!s.wait || s.wait.kind !== kind) s = { ...s, ...startWait(s, kind, durationSeconds, now(), analyse ? plan.analysis.intervalSeconds : null) };
    refreshDetails();
    // The run's message shows the samples a few times per wait, however long the wait.
    thread.pace(durationSeconds / ROUTINE_UPDATES_PER_WAIT);
    const weight = kind === 'soak' ? stepWeight(plan, s.stepIndex) : 100;
    const summary =
      kind === 'soak'
        ? `Soak ${weight} % for ${formatDuration(durationSeconds)}`
        : kind === 'keep_previous'
          ? `Keep ${previous()} hot for ${formatDuration(durationSeconds)}`
          : `Keep ${previous()} on standby for ${formatDuration(durationSeconds)}`;
    let sampleDue = false;
    for (;;) {
      if (sampleDue) {
        sampleDue = false;
        await sample(weight);
        // A fixed schedule (no drift from the sample's own duration); slots missed while a
        // slow sample ran are skipped, not bunched up.
        while (s.nextSampleAt !== null && s.nextSampleAt <= now()) s.nextSampleAt += plan.analysis.intervalSeconds * 1000;
        if (mayContinueAsNew()) await maybeContinueAsNew();
        continue;
      }
      if (waitMayEnd(s)) break;
      const w = s.wait;
      if (!w) break;
      const untilSample = analyse && s.nextSampleAt !== null ? s.nextSampleAt - now() : Infinity;
      const untilEnd = w.since === null || w.leftMs <= 0 ? Infinity : leftMs(w, now());
      const seen = changes;
      if (untilSample === Infinity && untilEnd === Infinity) {
        await quietly(() => changes !== seen);
        continue;
      }
      const acted = await quietly(() => changes !== seen, Math.max(1, Math.min(untilSample, untilEnd)), { summary });
      if (acted) continue; // an operator changed the wait: plan again
      // Which timer fired decides what happens next, never a comparison with the clock:
      // workflow time in the first task a new worker runs after a crash can lag the time a
      // replay sees, and both must take the same branch.
      if (untilSample < untilEnd) sampleDue = true;
      else if (untilSample > untilEnd) s = { ...s, ...waitTimeUp(s, now()) };
      else {
        // The last sample falls due as the wait ends (a soak of whole intervals): this one
        // timer ended both. Runs that began before this took a 1 ms timer after the sample to
        // end the wait: a round trip per soak, about a second on a server whose timers fire late.
        sampleDue = true;
        if (patches.applied(SAMPLE_TIMER_ENDS_WAIT_PATCH)) s = { ...s, ...waitTimeUp(s, now()) };
      }
    }
    s.wait = null;
    s.nextSampleAt = null;
    thread.pace(null);
    refreshDetails();
  }

  async function sample(weight: number): Promise<void> {
    const step = s.stage === 'steps' ? s.stepIndex + 1 : plan.steps.length;
    // CloudWatch publishes late: the window ends `lag` behind now.
    const endMs = now() - plan.analysis.lagSeconds * 1000;
    // The window starts no earlier than this deployment's first shift: the colour's older
    // datapoints are another version's. Runs that began before this read the whole window.
    const configured = plan.analysis.windowSeconds;
    const windowSeconds = patches.applied(ANALYSIS_WINDOW_PATCH) ? windowSinceShift(configured, s.firstShiftAt ?? null, endMs) : configured;
    // Set only when the window was cut at the shift.
    const cutAt = windowSeconds < configured && s.firstShiftAt != null ? iso(s.firstShiftAt) : null;
    const entry: Sample =
      cutAt !== null && windowSeconds <= 0
        ? noDataSinceShiftSample({ at: iso(), step, weight }, cutAt, iso(endMs))
        : await measured(weight, step, windowSeconds, iso(endMs), cutAt === null ? undefined : sinceShiftLabel(cutAt, windowSeconds, configured));
    // An inconclusive sample as the soak's time was up extends it from the sample's slot, so
    // that the next sample's timer ends it too. Runs that began before this extended it from
    // now, a few ms later, and took a timer of those few ms after the next sample.
    const slot = entry.verdict === 'inconclusive' && s.wait !== null && s.wait.leftMs <= 0 ? s.nextSampleAt : null;
    const r = onSample(s, entry, plan, now(), slot !== null && patches.applied(EXTEND_FROM_SLOT_PATCH) ? slot : undefined);
    take(r);
    if (entry.verdict === 'fail') {
      thread.reply(`:warning: Analysis at ${weight} % failed (${s.analysis.consecutiveFailures} in a row; ${plan.analysis.failureLimit} roll back): ${entry.message}`);
    }
    if (r.rollback) throw new RollbackNeeded(r.rollback);
  }

  /** The new colour's metrics over `windowSeconds` ending at `end`, judged; a provider that cannot answer is inconclusive. */
  async function measured(weight: number, step: number, windowSeconds: number, end: string, label: string | undefined): Promise<Sample> {
    const colour = target();
    try {
      const m = await metrics.measure.executeWithOptions(
        {
          startToCloseTimeout: '30s',
          heartbeatTimeout: '20s',
          retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 3 },
          summary: `Analyse ${colour} at ${weight} %`,
          cancellationType: ActivityCancellationType.TRY_CANCEL,
        },
        [spec.metrics, colour, windowSeconds, end],
      );
      return judgedSample(m, spec.thresholds, { at: iso(), step, weight, label });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Retries are exhausted: a provider that cannot answer is not a breach.
      return providerErrorSample(iso(), step, weight, causeMessage(err));
    }
  }

  // ---------------------------------------------------------------- forward flow
  async function shift(weights: Weights, summary: string, opts: ActivityOptions = AWS): Promise<void> {
    const written = await traffic.shiftTraffic.executeWithOptions({ ...opts, summary }, [spec.traffic, weights]);
    if (written.syncToken) {
      listPhase(); // the shift waits for DNS: a phase worth listing
      await traffic.awaitTrafficSync.executeWithOptions(
        { ...opts, startToCloseTimeout: '10m', heartbeatTimeout: '30s', summary: `Wait until every DNS server has ${summary.toLowerCase()}` },
        [spec.traffic, written.syncToken],
      );
    }
    s.weights = written.weights;
    refreshDetails();
  }

  async function deployNewColour(): Promise<void> {
    setPhase('deploying');
    if (spec.breakGlass) {
      // Recorded before anything is read or written: the timeline, the thread and (at start) a search attribute.
      event('break_glass', `Break-glass by ${spec.breakGlass.by}, around ${spec.environment}'s gate: ${spec.breakGlass.reason}`);
      thread.reply(`:rotating_light: Break-glass by ${spec.breakGlass.by}, around ${spec.environment}'s gate: ${spec.breakGlass.reason}`, { alert: true });
    }
    // The first activity checks the whole spec against the worker's config (activities/aws.ts),
    // so a spec naming what the config does not fails here, before anything is taken over or
    // written. Runs started before the check read the weights only, as their histories say.
    const weights = patches.applied(VERIFY_SPEC_PATCH)
      ? await traffic.readWeights.executeWithOptions({ summary: 'Check the spec against the worker\'s config; read current traffic weights' }, [spec.traffic, spec])
      : await traffic.readWeights.executeWithOptions({ summary: 'Read current traffic weights' }, [spec.traffic]);
    s.weights = weights;
    const live: Colour | null = weights.blue === 100 ? 'blue' : weights.green === 100 ? 'green' : null;
    if (!live) {
      throw ApplicationFailure.create({
        type: ErrorType.InfrastructureMismatch,
        nonRetryable: true,
        message: `traffic is split blue ${weights.blue} % / green ${weights.green} %: a deployment needs one colour at 100 %; finish or roll back the other change first`,
      });
    }
    s.liveColour = live;
    s.targetColour = otherColour(live);
    const liveState = await compute.describeService.executeWithOptions({ summary: `Describe ${live} service` }, [spec.compute, live]);
    s.previous = { desiredCount: Math.max(1, liveState.desiredCount), taskDefinitionArn: liveState.taskDefinitionArn };
    event('started', `${title}: ${live} is live; deploying ${spec.image} to ${target()}`);
    thread.reply(`:rocket: Started by ${spec.requestedBy}: ${live} is live; deploying ${spec.version} to ${target()}`);

    // The deployment that put the live version there may still be in its tail, keeping the
    // idle colour hot or on standby: take its tail over explicitly, so it stops touching it.
    if (liveState.deployedBy && liveState.deployedBy !== spec.id) {
      const taken = await act.takeOverTail.executeWithOptions(
        { startToCloseTimeout: '3m', retry: { initialInterval: '2s', maximumAttempts: 3 }, summary: `Take over the tail of ${liveState.deployedBy}` },
        [liveState.deployedBy, spec.id],
      );
      if (taken.outcome === 'refused') {
        throw ApplicationFailure.create({ type: ErrorType.LaneBusy, nonRetryable: true, message: taken.message });
      }
      if (taken.outcome === 'taken_over' && taken.result) {
        s.tookOver = { from: taken.result.from, colour: taken.result.colour, stage: taken.result.stage };
        const was = taken.result.stage === 'keep' ? 'hot' : taken.result.stage === 'standby' ? 'on standby' : 'being retired';
        event('took_over', `Took over the tail of ${taken.result.from}: ${taken.result.colour} was ${was}; deploying onto it`);
        thread.reply(`:handshake: Took over the tail of ${taken.result.from} (${taken.result.colour} was ${was})`);
      }
    }

    s.writesStarted = true;
    const deployed = await compute.deployImage.executeWithOptions({ summary: `Deploy ${spec.version} to ${target()} (${s.previous.desiredCount} tasks)` }, [
      { target: spec.compute, colour: target(), templateColour: live, image: spec.image, desiredCount: s.previous.desiredCount, deploymentId: spec.id },
    ]);
    s.newTaskDefinitionArn = deployed.taskDefinitionArn;
    try {
      await compute.waitForStable.executeWithOptions(
        { startToCloseTimeout: plan.stableTimeoutSeconds * 1000, heartbeatTimeout: '60s', retry: { maximumAttempts: 1 }, summary: `Wait for ${target()} to run ${spec.version}` },
        [spec.compute, target(), deployed.taskDefinitionArn],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RollbackNeeded({ reason: `${target()} did not come to run ${spec.version} within ${formatDuration(plan.stableTimeoutSeconds)}: ${causeMessage(err)}`, requestedBy: null, step: null, evidence: null });
    }
    event('deployed', `${target()} runs ${spec.image} (${s.previous.desiredCount} tasks)`);

    setPhase('smoke_testing');
    try {
      await compute.smokeTest.executeWithOptions(
        { startToCloseTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '2s' }, summary: `Smoke-test ${target()}` },
        [spec.smokeTestUrls[target()]],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RollbackNeeded({ reason: `smoke test failed: ${causeMessage(err)}`, requestedBy: null, step: null, evidence: null });
    }
    event('smoke_passed', `Smoke test of ${target()} passed`);
  }

  async function runSteps(): Promise<void> {
    while (s.stepIndex < plan.steps.length) {
      const step = plan.steps[s.stepIndex];
      if (s.paused) {
        setPhase('paused');
        await quietly(() => !s.paused);
      }
      switch (step.type) {
        case 'shift': {
          setPhase('shifting', { quick: true });
          // The first shift (trafficTouched is set before every shift): a state carried without
          // firstShiftAt whose traffic was already touched keeps it unknown.
          if (!s.trafficTouched) s.firstShiftAt = now();
          s.trafficTouched = true;
          await shift(weightsFor(target(), step.weight), describeStep(step, target()));
          event('shifted', `${step.weight} % of traffic on ${target()} (verified)`);
          thread.reply(`:arrow_right: Step ${s.stepIndex + 1}/${plan.steps.length}: ${step.weight} % of traffic on ${target()} (verified)`);
          break;
        }
        case 'soak':
          setPhase(s.paused ? 'paused' : 'soaking');
          await timedWait('soak', step.durationSeconds, true);
          event('soaked', `Soak at ${stepWeight(plan, s.stepIndex)} % complete`);
          break;
        default: {
          const never: never = step;
          throw new Error(`unknown step ${JSON.stringify(never)}`);
        }
      }
      s.stepIndex++;
      if (mayContinueAsNew()) await maybeContinueAsNew();
    }
  }

  async function goLive(): Promise<void> {
    s.liveAt = iso();
    s.stage = 'keep';
    setPhase('keeping_previous');
    event('live', `LIVE: 100 % on ${target()} (verified); keeping ${previous()} hot for ${formatDuration(plan.keepPreviousForSeconds)} (rollback is instant)`);
    thread.reply(`:large_green_circle: Live: ${spec.version} serves 100 % on ${target()}; ${previous()} stays hot for ${formatDuration(plan.keepPreviousForSeconds)}`);
    await tell({ milestone: 'live', liveAt: s.liveAt, outcome: null, stillLive: true, handedOverTo: null, reason: null });
  }

  async function keepPrevious(): Promise<void> {
    setPhase('keeping_previous');
    // Still analysing: while the previous colour is hot, a breach rolls back at once.
    await timedWait('keep_previous', plan.keepPreviousForSeconds, true);
    const kept = s.analysis.samples.filter((x) => x.weight === 100);
    event('kept', `Kept ${previous()} hot for ${formatDuration(plan.keepPreviousForSeconds)}; the last ${kept.length} samples at 100 %: ${kept.filter((x) => x.verdict === 'pass').length} passed`);
  }

  async function standby(): Promise<void> {
    setPhase('standby');
    if (!s.wait || s.wait.kind !== 'standby') {
      const count = Math.min(plan.standbyCount, s.previous?.desiredCount ?? plan.standbyCount);
      try {
        await compute.scaleService.executeWithOptions({ summary: `Scale ${previous()} to standby (${count} tasks)` }, [spec.compute, previous(), count]);
        event('standby', `${previous()} scaled to standby (${count} task${count === 1 ? '' : 's'}) for ${formatDuration(plan.standbyForSeconds)}`);
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Safe either way: the previous colour stays larger than needed until it is retired.
        event('standby_failed', `${previous()} could not be scaled to standby (${causeMessage(err)}); it stays as it is until retired`);
      }
    }
    await timedWait('standby', plan.standbyForSeconds, false);
  }

  // ---------------------------------------------------------------- converge to safety
  /**
   * Drives the real state to the safe one and verifies it: for a rollback, every request on
   * the previous colour at its full capacity and the new colour scaled down; for retirement,
   * the old colour scaled down while every request goes to the new one. Observes first (never
   * trusts a flag), acts, verifies; tries again without end, escalating after the plan's time.
   */
  async function converge(goal: 'rollback' | 'retire'): Promise<void> {
    s.safety ??= { goal, since: now(), trafficMovedAt: null, stuckSince: null, lastError: null, attempts: 0 };
    for (;;) {
      try {
        await convergeOnce(goal);
        if (s.safety?.stuckSince != null) {
          event('recovered', `${goal === 'rollback' ? 'Rollback' : 'Retirement'} completed after ${s.safety.attempts} failed rounds`);
          thread.reply(`:white_check_mark: ${goal === 'rollback' ? 'Rollback' : 'Retirement'} completed after all`);
        }
        s.safety = null;
        return;
      } catch (err) {
        // A takeover ends a retirement in progress; continue-as-new is not a failure.
        if (err instanceof ContinueAsNew || isCancellation(err)) throw err;
        const before: SafetyProgress = s.safety ?? { goal, since: now(), trafficMovedAt: null, stuckSince: null, lastError: null, attempts: 0 };
        const safety: SafetyProgress = { ...before, lastError: causeMessage(err), attempts: before.attempts + 1 };
        s.safety = safety;
        event('safety_retry', `${goal === 'rollback' ? 'Rollback' : 'Retirement'} not done yet (round ${safety.attempts}): ${safety.lastError}; trying again`);
        if (safety.stuckSince === null && now() - safety.since >= plan.escalateAfterSeconds * 1000) {
          safety.stuckSince = now();
          s.error = safety.lastError;
          setPhase('stuck');
          const failingFor = formatDuration((now() - safety.since) / 1000);
          event('stuck', `STUCK: the ${goal} has failed for ${failingFor}; still trying. Last error: ${safety.lastError}`);
          thread.reply(`:rotating_light: ${title}: the ${goal} is STUCK after ${failingFor} and keeps trying. Last error: ${safety.lastError}`, { alert: true });
        }
        await sleep(convergeBackoffMs(safety.attempts - 1));
        await maybeContinueAsNew();
      }
    }
  }

  async function convergeOnce(goal: 'rollback' | 'retire'): Promise<void> {
    const serve = goal === 'rollback' ? previous() : target();
    const drain = otherColour(serve);
    const o: ActivityOptions = { ...CONVERGE };
    // 1. The colour that must serve has the capacity to: read it, restore it, wait until it runs.
    if (goal === 'rollback' && s.previous) {
      const full = s.previous.desiredCount;
      const seen = await compute.describeService.executeWithOptions({ ...o, summary: `Read ${serve}'s capacity` }, [spec.compute, serve]);
      if (seen.desiredCount < full) {
        await compute.scaleService.executeWithOptions({ ...o, summary: `Scale ${serve} back to ${full} tasks` }, [spec.compute, serve, full]);
        event('capacity_restoring', `${serve} had ${seen.desiredCount} of ${full} tasks; scaling it back before any traffic moves`);
      }
      if (seen.desiredCount < full || !seen.stable || seen.runningCount < full) {
        await compute.waitForStable.executeWithOptions(
          { ...o, startToCloseTimeout: plan.stableTimeoutSeconds * 1000, heartbeatTimeout: '60s', retry: { maximumAttempts: 1 }, summary: `Wait for ${serve} to run ${full} tasks` },
          [spec.compute, serve, null],
        );
        event('capacity_restored', `${serve} runs ${full} tasks (stable)`);
      }
    }
    // 2. Every request on it: observed, and moved only when a rollback may move it.
    const weights = await traffic.readWeights.executeWithOptions({ ...o, summary: 'Read current traffic weights' }, [spec.traffic]);
    s.weights = weights;
    if (weights[serve] !== 100) {
      if (goal === 'retire') {
        throw new Error(`traffic is not all on ${serve} (blue ${weights.blue} % / green ${weights.green} %): ${drain} is not retired while it may still serve`);
      }
      setPhase(s.safety?.stuckSince != null ? 'stuck' : 'rolling_back');
      await shift(weightsFor(serve, 100), `Roll back: 100 % to ${serve}`, o);
      if (s.safety) s.safety.trafficMovedAt = now();
      event('traffic_restored', `100 % of traffic back on ${serve} (verified)`);
      thread.reply(`:shield: 100 % of traffic back on ${serve} (verified)`);
    } else if (s.safety && s.safety.trafficMovedAt === null) {
      s.safety.trafficMovedAt = goal === 'retire' && s.liveAt ? Date.parse(s.liveAt) : now();
    }
    // 3. Clients that resolved the old answer stop using the drained colour: DNS TTL + margin.
    const drainedHadTraffic = goal === 'retire' || s.trafficTouched;
    if (drainedHadTraffic && s.safety?.trafficMovedAt != null) {
      const settle = await traffic.trafficSettleSeconds.executeWithOptions({ ...o, summary: 'Read how long clients keep the old answer' }, [spec.traffic]);
      if (settle > 0) {
        const until = s.safety.trafficMovedAt + (settle + plan.drainMarginSeconds) * 1000;
        if (until > now()) {
          event('draining', `Waiting ${formatDuration((until - now()) / 1000)} (DNS TTL ${formatDuration(settle)} + ${formatDuration(plan.drainMarginSeconds)}) before scaling ${drain} down`);
          await sleep(until - now());
        }
      }
    }
    // 4. Scale the drained colour down (read back by the activity).
    setPhase(goal === 'retire' ? 'retiring' : s.safety?.stuckSince != null ? 'stuck' : 'rolling_back');
    await compute.scaleService.executeWithOptions({ ...o, summary: goal === 'retire' ? `Retire ${drain}` : `Scale ${drain} down` }, [spec.compute, drain, 0]);
    event(goal === 'retire' ? 'retired' : 'scaled_down', `${drain} ${goal === 'retire' ? 'retired' : 'scaled'} to 0 tasks`);
  }

  // ---------------------------------------------------------------- stages
  function enterRollback(info: RollbackInfo): void {
    s.rollback ??= info;
    s.stage = 'rollback';
    s.wait = null;
    s.paused = false;
    setPhase('rolling_back');
    event('rolling_back', `Rolling back: ${s.rollback.reason}`);
    thread.reply(`:rewind: Rolling back: ${s.rollback.reason}`);
  }

  function endHandedOver(): void {
    finish('succeeded', 'completed');
    event('completed', `${title} ended: its tail was taken over by ${s.handedOver?.to}`);
  }

  async function runStage(stage: Stage): Promise<void> {
    // A rollback requested, or a takeover accepted, before this stage began (even in the run's first task).
    if (s.rollback && stage !== 'rollback') return enterRollback(s.rollback);
    if (s.handedOver) return endHandedOver();
    switch (stage) {
      case 'deploy':
        await deployNewColour();
        s.stage = 'steps';
        return;
      case 'steps':
        await runSteps();
        await goLive();
        return;
      case 'keep':
        await keepPrevious();
        s.stage = 'standby';
        return;
      case 'standby':
        await standby();
        s.stage = 'retire';
        return;
      case 'retire':
        await converge('retire');
        finish('succeeded', 'completed');
        event('completed', `${title} succeeded: ${target()} serves 100 %; ${previous()} retired`);
        thread.reply(`:white_check_mark: Succeeded: ${target()} serves 100 %; ${previous()} retired`);
        return;
      case 'rollback':
        await CancellationScope.nonCancellable(() => rollBack());
        return;
      case 'done':
        return;
      default: {
        const never: never = stage;
        throw new Error(`unknown stage ${String(never)}`);
      }
    }
  }

  async function rollBack(): Promise<void> {
    const info = s.rollback as RollbackInfo;
    const cancelled = s.cancel?.effect === 'rollback';
    if (s.liveColour && s.writesStarted) {
      await converge('rollback');
    } else {
      event('nothing_to_undo', 'Nothing had been written to AWS yet: nothing to undo');
    }
    if (cancelled) {
      finish('cancelled', 'cancelled');
      event('cancelled', `${title} cancelled; ${s.writesStarted ? `traffic restored to ${previous()}` : 'nothing had changed'}`);
      thread.reply(`:no_entry: Cancelled; ${s.writesStarted ? `traffic restored to ${previous()}` : 'nothing had changed'}`);
    } else {
      finish('rolled_back', 'rolled_back');
      event('rolled_back', `${title} was ROLLED BACK: ${info.reason}`);
      thread.reply(`:leftwards_arrow_with_hook: Rolled back: ${info.reason}`);
    }
  }

  /** What a stage's failure means: roll back, end (handed over), or try the stage again. */
  function afterStageFailure(err: unknown): void {
    if (s.handedOver) return endHandedOver();
    if (err instanceof RollbackNeeded) return enterRollback(err.info);
    if (isCancellation(err)) {
      if (s.rollback) return enterRollback(s.rollback);
      // Not a cancellation of ours: the run's, reaching the stage. Judge it like any cancel.
      const r = onCancel(s, now());
      take(r);
      if (r.rollBack && s.rollback) enterRollback(s.rollback);
      return; // the tail goes on: the stage runs again in a new scope
    }
    s.error = causeMessage(err);
    if (!s.writesStarted) {
      finish('failed', 'failed');
      event('failed', `${title} failed before changing anything: ${s.error}`);
      thread.reply(`:x: Failed before changing anything: ${s.error}`);
      return;
    }
    enterRollback({ reason: `error: ${s.error}`, requestedBy: null, step: s.stage === 'steps' ? s.stepIndex + 1 : null, evidence: null });
  }

  // ---------------------------------------------------------------- main
  upsertSearchAttributes([
    { key: BatonKind, value: 'deployment' },
    { key: BatonService, value: spec.service },
    { key: BatonEnvironment, value: spec.environment },
    { key: BatonVersion, value: spec.version },
    { key: BatonPhase, value: s.phase },
    ...(spec.breakGlass ? [{ key: BatonBreakGlass, value: spec.breakGlass.by }] : []),
  ]);
  refreshDetails();

  await shield.run(async () => {
    while (s.stage !== 'done') {
      try {
        await forward.run(() => runStage(s.stage));
      } catch (err) {
        if (err instanceof ContinueAsNew) throw err;
        afterStageFailure(err);
        forward = new CancellationScope({ cancellable: true, parent: shield });
      }
    }
  });

  await CancellationScope.nonCancellable(async () => {
    const stillLive = s.outcome === 'succeeded' && !s.handedOver;
    await tell({ milestone: 'ended', liveAt: s.liveAt, outcome: s.outcome, stillLive, handedOverTo: s.handedOver?.to ?? null, reason: s.rollback?.reason ?? s.error });
    await thread.close(SLACK_CLOSE_MS);
    await condition(allHandlersFinished);
  });
  if (!TERMINAL_PHASES.includes(s.phase)) throw new Error(`deployment ended in non-terminal phase ${s.phase}`);
  keepFinalStatus(status(), patches.applied);
  const result: DeploymentResult = { id: spec.id, outcome: s.outcome as Outcome, phase: s.phase, rollback: s.rollback, error: s.error, liveAt: s.liveAt, handedOverTo: s.handedOver?.to ?? null };
  if (result.outcome === 'cancelled') throw new CancelledFailure(`${title} cancelled: ${s.rollback?.reason ?? 'cancelled'}`);
  if (result.outcome !== 'succeeded') {
    // A rolled-back or failed deployment must look like what it is in the Temporal UI: a
    // failed run (the status query still answers, with the evidence).
    throw ApplicationFailure.create({
      type: result.outcome === 'rolled_back' ? ErrorType.RolledBack : ErrorType.DeploymentFailed,
      message: `${title} ${result.outcome === 'rolled_back' ? 'rolled back' : 'failed'}: ${s.rollback?.reason ?? s.error ?? 'unknown reason'}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
