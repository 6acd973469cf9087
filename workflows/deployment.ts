/**
 * Blue/green deployment of one version of one service into one environment.
 *
 * Flow: find the live colour from the router's weights → deploy the new image on the idle
 * colour and wait until stable → smoke-test it → for each plan step shift traffic (write,
 * then verify) or soak while analysing every interval → keep the previous colour hot →
 * scale it to standby → retire it.
 *
 * Invariants:
 * - Only the main flow does I/O. Update handlers validate, then change flags; an operator
 *   rollback cancels the `forward` scope, so nothing forward-moving runs after it.
 * - Mutating activities use WAIT_CANCELLATION_COMPLETED: a cancelled traffic write has
 *   really finished before the rollback writes, so a stale write can never land last.
 * - Rollback (100 % back on the previous colour, verified, then the new colour scaled to 0)
 *   runs in a non-cancellable scope with unlimited retries: it completes when the workflow
 *   is cancelled, when Slack is down (the Slack thread is never awaited on the safety path,
 *   see thread.ts) and, being durable, after a worker crash.
 * - Cancellation before 100 % rolls back; after 100 % it retires the previous colour now.
 * - Irreversible step: retiring the previous colour (after that, rollback is a new deployment).
 * - History stays bounded: sampling loops continue-as-new carrying the whole state, so a
 *   soak of any length resumes at the same step with the soak time that was left.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  log,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import { judge, providerErrorSample } from '../src/domain/analysis';
import {
  TERMINAL_PHASES,
  whyActionInvalid,
  type ActionRequest,
  type DeploymentPhase,
  type DeploymentStatus,
  type RollbackInfo,
  type WaitKind,
} from '../src/domain/deployment';
import { formatDuration } from '../src/domain/durations';
import type { RunCard } from '../src/domain/notices';
import { appendEvent } from '../src/domain/timeline';
import { ErrorType } from '../src/domain/errors';
import { describeStep, weightAt } from '../src/domain/plan';
import {
  otherColour,
  weightsFor,
  type Colour,
  type DeploymentSpec,
  type Evidence,
  type Outcome,
  type Sample,
  type TimelineEvent,
  type Weights,
} from '../src/domain/types';
import {
  BatonEnvironment,
  BatonKind,
  BatonOutcome,
  BatonPhase,
  BatonService,
  BatonVersion,
  deploymentActionUpdate,
  deploymentStatusQuery,
} from './messages';
import { newThreadState, PARENT, runThread, type ThreadState } from './thread';

/** Where the flow is; continue-as-new resumes here. */
type Stage = 'deploy' | 'steps' | 'keep' | 'standby' | 'retire' | 'done';

interface Wait {
  kind: WaitKind;
  durationSeconds: number;
  /** Time left when the clock last stopped or started. */
  remainingMs: number;
  /** Workflow time the clock (re)started; null while paused. */
  runningSince: number | null;
}

export interface DeploymentState {
  stage: Stage;
  phase: DeploymentPhase;
  outcome: Outcome | null;
  startedAt: string;
  endedAt: string | null;
  liveColour: Colour | null;
  targetColour: Colour | null;
  weights: Weights | null;
  /** Tasks the previous colour ran before the deployment; restored if a rollback needs it. */
  previousDesiredCount: number;
  previousScaledDown: boolean;
  stepIndex: number;
  wait: Wait | null;
  paused: boolean;
  /** Next sample due (workflow ms) while soaking. */
  nextSampleAt: number | null;
  stepFailures: number;
  stepInconclusive: number;
  samples: Sample[];
  rollbackRequest: RollbackInfo | null;
  rollback: RollbackInfo | null;
  error: string | null;
  timeline: TimelineEvent[];
  /** When the new colour took 100 % of the traffic (a release's stability counts from it). */
  liveAt?: string | null;
  /** Where the run's Slack messages are, so every run of this deployment updates the same ones. */
  slack?: ThreadState;
}

export interface DeploymentInput {
  spec: DeploymentSpec;
  /** Carried over by continue-as-new. */
  state?: DeploymentState;
  /** Continue-as-new once the history reaches this many events (default 2000). */
  maxHistoryEvents?: number;
}

export interface DeploymentResult {
  id: string;
  outcome: Outcome;
  phase: DeploymentPhase;
  rollback: RollbackInfo | null;
  error: string | null;
  liveAt: string | null;
}

const MAX_SAMPLES = 30;
/** How long a run waits for Slack before continuing as new, and before it ends (Slack may be down). */
const SLACK_PAUSE_MS = 5_000;
const SLACK_CLOSE_MS = 30_000;
const MAX_TIMELINE = 200;

const RETRY_AWS: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: [ErrorType.InfrastructureMismatch] };
const AWS: ActivityOptions = { startToCloseTimeout: '60s', retry: RETRY_AWS, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
/** The way back to safety retries until it succeeds. */
const SAFETY: ActivityOptions = {
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s' }, // no maximumAttempts: unlimited
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

const act = proxyActivities<Activities>(AWS);

/** Thrown inside the forward scope when analysis or a failed check decides to roll back. */
class RollbackNeeded extends Error {
  constructor(readonly info: RollbackInfo) {
    super(info.reason);
  }
}

export async function deployment(input: DeploymentInput): Promise<DeploymentResult> {
  const { spec } = input;
  const { plan } = spec;
  const maxHistory = input.maxHistoryEvents ?? 2000;
  const now = () => Date.now(); // workflow time: deterministic
  const iso = () => new Date(now()).toISOString();

  const s: DeploymentState = input.state ?? {
    stage: 'deploy',
    phase: 'starting',
    outcome: null,
    startedAt: iso(),
    endedAt: null,
    liveColour: null,
    targetColour: null,
    weights: null,
    previousDesiredCount: 0,
    previousScaledDown: false,
    stepIndex: 0,
    wait: null,
    paused: false,
    nextSampleAt: null,
    stepFailures: 0,
    stepInconclusive: 0,
    samples: [],
    rollbackRequest: null,
    rollback: null,
    error: null,
    timeline: [],
  };
  /** Bumped by every handler so waits wake up and re-plan. */
  let changes = 0;
  let forward: CancellationScope | null = null;

  // ---------------------------------------------------------------- status and UI
  const target = () => s.targetColour ?? 'green';
  const title = `Deploy ${spec.service} ${spec.version} to ${spec.environment}`;

  function remainingMs(w: Wait): number {
    return Math.max(0, w.remainingMs - (w.runningSince === null ? 0 : now() - w.runningSince));
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
      step:
        s.stage === 'steps' && step
          ? { index: s.stepIndex + 1, total: plan.steps.length, description: describeStep(step, target()) }
          : null,
      soak: s.wait
        ? { kind: s.wait.kind, durationSeconds: s.wait.durationSeconds, remainingSeconds: Math.ceil(remainingMs(s.wait) / 1000), paused: s.wait.runningSince === null }
        : null,
      analysis: { consecutiveFailures: s.stepFailures, inconclusiveInStep: s.stepInconclusive, samples: s.samples.slice(-10) },
      rollback: s.rollback ?? s.rollbackRequest,
      error: s.error,
      timeline: s.timeline.slice(-50),
    };
  }

  /** The facts the Temporal UI's details and the Slack message both show, one a line. */
  function facts(): string[] {
    const lines: string[] = [];
    if (s.liveColour) lines.push(`Colours: ${s.liveColour} (live) → ${target()} (new), ${spec.image}`);
    const step = plan.steps[s.stepIndex];
    if (s.stage === 'steps' && step) lines.push(`Step ${s.stepIndex + 1}/${plan.steps.length}: ${describeStep(step, target())}`);
    const last = s.samples[s.samples.length - 1];
    if (last) lines.push(`Last analysis: ${last.verdict} — ${last.message}`);
    return lines;
  }

  function refreshDetails(): void {
    const lines = [`**${title}** — phase \`${s.phase}\`${s.outcome ? `, outcome **${s.outcome.toUpperCase()}**` : ''}`, ...facts().map((f) => `- ${f}`)];
    if (s.weights) lines.push(`- Weights: blue ${s.weights.blue} % · green ${s.weights.green} %`);
    if (s.wait) lines.push(`- ${s.wait.kind.replace('_', ' ')}: ${formatDuration(remainingMs(s.wait) / 1000)} left of ${formatDuration(s.wait.durationSeconds)}${s.paused ? ' (paused)' : ''}`);
    const rb = s.rollback ?? s.rollbackRequest;
    if (rb) lines.push(`- Rollback: ${rb.reason}`);
    if (s.error) lines.push(`- Error: ${s.error}`);
    setCurrentDetails(lines.join('\n'));
  }

  function event(type: string, message: string): void {
    appendEvent(s.timeline, { at: iso(), type, message }, MAX_TIMELINE);
    log.info(message, { type });
    refreshDetails();
    thread.touch();
  }

  function setPhase(phase: DeploymentPhase): void {
    if (s.phase === phase) return;
    s.phase = phase;
    upsertSearchAttributes([{ key: BatonPhase, value: phase }]);
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
    const rb = s.rollback ?? s.rollbackRequest;
    return {
      kind: 'deployment',
      id: spec.id,
      title,
      requestedBy: spec.requestedBy,
      phase: s.phase,
      outcome: s.outcome,
      progress: s.targetColour && s.weights ? { percent: s.weights[t], label: `of traffic on ${t}` } : null,
      countdown: s.wait
        ? { label: waitLabel(s.wait.kind), remainingSeconds: Math.ceil(remainingMs(s.wait) / 1000), totalSeconds: s.wait.durationSeconds, paused: s.wait.runningSince === null }
        : null,
      lines,
      note: rb ? `Rollback: ${rb.reason}` : s.error,
    };
  }

  function waitLabel(kind: WaitKind): string {
    if (kind === 'soak') return `Soak at ${weightAt(plan.steps, s.stepIndex)} %`;
    return kind === 'keep_previous' ? `Keeping ${s.liveColour} hot` : `${s.liveColour} on standby`;
  }

  s.slack ??= newThreadState();
  const thread = runThread({ state: s.slack, notify: spec.notify, runId: spec.id, card });

  // ---------------------------------------------------------------- handlers
  setHandler(deploymentStatusQuery, status);
  setHandler(
    deploymentActionUpdate,
    (req: ActionRequest) => {
      applyAction(req);
      return status();
    },
    {
      validator: (req: ActionRequest) => {
        const why = whyActionInvalid(
          { phase: s.phase, paused: s.paused, wait: s.wait?.kind ?? null, rollbackRequested: s.rollbackRequest !== null },
          req,
        );
        if (why) throw ApplicationFailure.create({ type: ErrorType.InvalidTransition, message: `${req.action}: ${why}`, nonRetryable: true });
      },
    },
  );

  function applyAction(req: ActionRequest): void {
    const by = `${req.actor}${req.reason ? ` (${req.reason})` : ''}`;
    thread.reply(`:raising_hand: ${req.action}${req.action === 'extend' ? ` by ${formatDuration(req.seconds ?? 0)}` : ''}, by ${by}`);
    switch (req.action) {
      case 'pause':
        s.paused = true;
        if (s.wait && s.wait.runningSince !== null) {
          s.wait.remainingMs = remainingMs(s.wait);
          s.wait.runningSince = null;
        }
        if (s.phase === 'soaking') setPhase('paused');
        event('paused', `Paused by ${by}`);
        break;
      case 'resume':
        s.paused = false;
        if (s.wait && s.wait.runningSince === null) s.wait.runningSince = now();
        if (s.phase === 'paused') setPhase(s.wait ? 'soaking' : 'shifting');
        event('resumed', `Resumed by ${by}`);
        break;
      case 'promote':
        if (s.wait) {
          s.wait.remainingMs = 0;
          s.wait.runningSince = now();
        }
        if (s.paused) {
          s.paused = false;
          if (s.phase === 'paused') setPhase('soaking');
        }
        event('promoted', `${s.wait?.kind.replace('_', ' ') ?? 'wait'} ended early by ${by}`);
        break;
      case 'extend':
        if (s.wait) s.wait.remainingMs += (req.seconds ?? 0) * 1000;
        event('extended', `${s.wait?.kind.replace('_', ' ') ?? 'wait'} extended by ${formatDuration(req.seconds ?? 0)} by ${by}`);
        break;
      case 'rollback':
        s.rollbackRequest = { reason: `rollback requested by ${by}`, requestedBy: req.actor, step: s.stage === 'steps' ? s.stepIndex + 1 : null, evidence: null };
        event('rollback_requested', s.rollbackRequest.reason);
        forward?.cancel();
        break;
      default: {
        const never: never = req.action;
        throw new Error(`unhandled action ${String(never)}`);
      }
    }
    changes++;
  }

  // ---------------------------------------------------------------- history bound
  async function maybeContinueAsNew(): Promise<void> {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < maxHistory) return;
    await condition(allHandlersFinished);
    // A Slack call in flight belongs to this run: wait briefly, else continue at the next chance.
    if (!(await thread.pause(SLACK_PAUSE_MS))) return;
    if (s.wait) {
      // Carry the clock as "time left", restarted in the next run.
      s.wait.remainingMs = remainingMs(s.wait);
      if (s.wait.runningSince !== null) s.wait.runningSince = 0;
    }
    event('continued_as_new', `History reached ${info.historyLength} events; continuing as a new run`);
    await continueAsNew<typeof deployment>({ spec, state: s, maxHistoryEvents: input.maxHistoryEvents });
  }

  // ---------------------------------------------------------------- waits and analysis
  /**
   * Waits `durationSeconds` of un-paused time (resuming a carried wait if there is one),
   * honouring promote/extend/pause. With `analyse`, samples the new colour every interval.
   */
  async function timedWait(kind: WaitKind, durationSeconds: number, analyse: boolean): Promise<void> {
    if (!s.wait || s.wait.kind !== kind) {
      s.wait = { kind, durationSeconds, remainingMs: durationSeconds * 1000, runningSince: s.paused ? null : now() };
      s.nextSampleAt = analyse ? now() + plan.analysis.intervalSeconds * 1000 : null;
    } else if (s.wait.runningSince === 0) {
      s.wait.runningSince = now(); // resumed after continue-as-new
    }
    refreshDetails();
    const weight = weightAt(plan.steps, s.stepIndex);
    const summary =
      kind === 'soak'
        ? `Soak ${weight} % for ${formatDuration(durationSeconds)}`
        : kind === 'keep_previous'
          ? `Keep ${s.liveColour} hot for ${formatDuration(durationSeconds)}`
          : `Keep ${s.liveColour} on standby for ${formatDuration(durationSeconds)}`;
    let sampleDue = false;
    for (;;) {
      const w = s.wait;
      if (sampleDue) {
        sampleDue = false;
        await sample(weight);
        // A fixed schedule (no drift from the sample's own duration); slots missed while a
        // slow sample ran are skipped, not bunched up.
        while (s.nextSampleAt !== null && s.nextSampleAt <= now()) s.nextSampleAt += plan.analysis.intervalSeconds * 1000;
        await maybeContinueAsNew();
        continue;
      }
      if (w.remainingMs <= 0) break; // ended by its timer, by promote, or paused at the very end
      const untilSample = analyse && s.nextSampleAt !== null ? s.nextSampleAt - now() : Infinity;
      const untilEnd = w.runningSince === null ? Infinity : remainingMs(w);
      const seen = changes;
      if (untilSample === Infinity && untilEnd === Infinity) {
        await condition(() => changes !== seen);
        continue;
      }
      const acted = await condition(() => changes !== seen, Math.max(1, Math.min(untilSample, untilEnd)), { summary });
      if (acted) continue; // an operator changed the wait: plan again
      // Which timer fired decides what happens next, never a comparison with the clock:
      // workflow time in the first task a new worker runs after a crash can lag the time a
      // replay sees, and both must take the same branch.
      if (untilSample <= untilEnd) {
        sampleDue = true;
      } else {
        w.remainingMs = 0;
        w.runningSince = now();
      }
    }
    s.wait = null;
    s.nextSampleAt = null;
    refreshDetails();
  }

  async function sample(weight: number): Promise<void> {
    const colour = target();
    const step = s.stepIndex + 1;
    let entry: Sample;
    try {
      const m = await act.measure.executeWithOptions(
        {
          startToCloseTimeout: '30s',
          retry: { initialInterval: '2s', backoffCoefficient: 2, maximumAttempts: 3 },
          summary: `Analyse ${colour} at ${weight} %`,
          cancellationType: ActivityCancellationType.TRY_CANCEL,
        },
        [spec.metrics, colour, plan.analysis.windowSeconds, iso()],
      );
      const j = judge(m, spec.thresholds);
      entry = { at: iso(), step, weight, verdict: j.verdict, reason: j.reason, requests: m.requests, errorRate: j.errorRate, latencyMs: m.latencyMs, evidence: j.evidence, message: j.message };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Retries are exhausted: a provider that cannot answer is not a breach.
      entry = providerErrorSample(iso(), step, weight, causeMessage(err));
    }
    s.samples.push(entry);
    if (s.samples.length > MAX_SAMPLES) s.samples.splice(0, s.samples.length - MAX_SAMPLES);
    event(`analysis_${entry.verdict}`, `Analysis at ${weight} %: ${entry.verdict} — ${entry.message}`);
    if (entry.verdict === 'fail') thread.reply(`:warning: Analysis at ${weight} % failed (${s.stepFailures + 1} in a row; ${plan.analysis.failureLimit} roll back): ${entry.message}`);

    if (entry.verdict === 'pass') {
      s.stepFailures = 0;
    } else if (entry.verdict === 'fail') {
      s.stepFailures++;
      if (s.stepFailures >= plan.analysis.failureLimit) {
        throw new RollbackNeeded({
          reason: `${entry.message} (${s.stepFailures} consecutive failing samples at ${weight} %)`,
          requestedBy: null,
          step,
          evidence: entry.evidence ?? null,
        });
      }
    } else if (!s.paused && s.wait) {
      s.stepInconclusive++;
      if (s.stepInconclusive > plan.analysis.inconclusiveLimit) {
        const evidence: Evidence = { metric: 'inconclusive_samples', value: s.stepInconclusive, threshold: plan.analysis.inconclusiveLimit };
        throw new RollbackNeeded({
          reason: `failing safe: ${s.stepInconclusive} inconclusive samples at ${weight} % (limit ${plan.analysis.inconclusiveLimit}); last: ${entry.message}`,
          requestedBy: null,
          step,
          evidence,
        });
      }
      // An inconclusive sample proves nothing: the soak lasts one more interval.
      s.wait.remainingMs += plan.analysis.intervalSeconds * 1000;
    }
  }

  // ---------------------------------------------------------------- forward flow
  async function shift(weights: Weights, summary: string, opts: ActivityOptions = AWS): Promise<void> {
    s.weights = await act.shiftTraffic.executeWithOptions({ ...opts, summary }, [spec.traffic, weights]);
    refreshDetails();
  }

  async function deployNewColour(): Promise<void> {
    setPhase('deploying');
    const weights = await act.readWeights.executeWithOptions({ summary: 'Read current traffic weights' }, [spec.traffic]);
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
    const liveState = await act.describeService.executeWithOptions({ summary: `Describe ${live} service` }, [spec.compute, live]);
    s.previousDesiredCount = Math.max(1, liveState.desiredCount);
    event('started', `${title}: ${live} is live; deploying ${spec.image} to ${target()}`);
    thread.reply(`:rocket: Started by ${spec.requestedBy}: ${live} is live; deploying ${spec.version} to ${target()}`);

    await act.deployImage.executeWithOptions({ summary: `Deploy ${spec.version} to ${target()} (${s.previousDesiredCount} tasks)` }, [
      { target: spec.compute, colour: target(), templateColour: live, image: spec.image, desiredCount: s.previousDesiredCount, deploymentId: spec.id },
    ]);
    try {
      await act.waitForStable.executeWithOptions(
        {
          startToCloseTimeout: plan.stableTimeoutSeconds * 1000,
          heartbeatTimeout: '60s',
          retry: { maximumAttempts: 1 },
          summary: `Wait for ${target()} to be stable`,
        },
        [spec.compute, target()],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RollbackNeeded({ reason: `${target()} did not become stable within ${formatDuration(plan.stableTimeoutSeconds)}: ${causeMessage(err)}`, requestedBy: null, step: null, evidence: null });
    }
    event('deployed', `${target()} runs ${spec.image} (${s.previousDesiredCount} tasks)`);

    setPhase('smoke_testing');
    try {
      await act.smokeTest.executeWithOptions(
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
        await condition(() => !s.paused);
      }
      switch (step.type) {
        case 'shift': {
          setPhase('shifting');
          await shift(weightsFor(target(), step.weight), describeStep(step, target()));
          event('shifted', `${step.weight} % of traffic on ${target()} (verified)`);
          thread.reply(`:arrow_right: Step ${s.stepIndex + 1}/${plan.steps.length}: ${step.weight} % of traffic on ${target()} (verified)`);
          break;
        }
        case 'soak':
          setPhase(s.paused ? 'paused' : 'soaking');
          await timedWait('soak', step.durationSeconds, true);
          event('soaked', `Soak at ${weightAt(plan.steps, s.stepIndex)} % complete`);
          break;
        default: {
          const never: never = step;
          throw new Error(`unknown step ${JSON.stringify(never)}`);
        }
      }
      s.stepIndex++;
      s.stepFailures = 0;
      s.stepInconclusive = 0;
      await maybeContinueAsNew();
    }
  }

  async function keepAndRetire(): Promise<void> {
    const previous = s.liveColour as Colour;
    if (s.stage === 'keep') {
      setPhase('keeping_previous');
      s.liveAt ??= iso();
      event('promoted_fully', `100 % on ${target()}; keeping ${previous} hot for ${formatDuration(plan.keepPreviousForSeconds)}`);
      await timedWait('keep_previous', plan.keepPreviousForSeconds, false);
      s.stage = 'standby';
    }
    if (s.stage === 'standby') {
      setPhase('standby');
      await act.scaleService.executeWithOptions({ summary: `Scale ${previous} to standby (${plan.standbyCount} tasks)` }, [
        spec.compute,
        previous,
        Math.min(plan.standbyCount, s.previousDesiredCount),
      ]);
      s.previousScaledDown = true;
      event('standby', `${previous} scaled to standby (${plan.standbyCount} task${plan.standbyCount === 1 ? '' : 's'}) for ${formatDuration(plan.standbyForSeconds)}`);
      await timedWait('standby', plan.standbyForSeconds, false);
      s.stage = 'retire';
    }
  }

  async function retire(summary: string): Promise<void> {
    const previous = s.liveColour as Colour;
    setPhase('retiring');
    await act.scaleService.executeWithOptions({ ...SAFETY, summary }, [spec.compute, previous, 0]);
    event('retired', `${previous} retired (0 tasks)`);
  }

  // ---------------------------------------------------------------- rollback
  async function rollBack(info: RollbackInfo): Promise<void> {
    s.rollback = info;
    s.wait = null;
    s.paused = false;
    setPhase('rolling_back');
    event('rolling_back', `Rolling back: ${info.reason}`);
    thread.reply(`:rewind: Rolling back: ${info.reason}`);
    const live = s.liveColour;
    if (!live) return; // nothing was changed yet
    if (s.previousScaledDown) {
      await act.scaleService.executeWithOptions({ ...SAFETY, summary: `Scale ${live} back to ${s.previousDesiredCount} tasks` }, [spec.compute, live, s.previousDesiredCount]);
      await act.waitForStable.executeWithOptions(
        { startToCloseTimeout: plan.stableTimeoutSeconds * 1000, heartbeatTimeout: '60s', retry: { maximumInterval: '60s' }, summary: `Wait for ${live} to be stable`, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED },
        [spec.compute, live],
      );
      s.previousScaledDown = false;
    }
    await shift(weightsFor(live, 100), `Roll back: 100 % to ${live}`, SAFETY);
    event('traffic_restored', `100 % of traffic back on ${live} (verified)`);
    thread.reply(`:shield: 100 % of traffic back on ${live} (verified)`);
    await act.scaleService.executeWithOptions({ ...SAFETY, summary: `Scale ${target()} down` }, [spec.compute, target(), 0]);
    event('scaled_down', `${target()} scaled to 0 tasks`);
  }

  // ---------------------------------------------------------------- main
  upsertSearchAttributes([
    { key: BatonKind, value: 'deployment' },
    { key: BatonService, value: spec.service },
    { key: BatonEnvironment, value: spec.environment },
    { key: BatonVersion, value: spec.version },
    { key: BatonPhase, value: s.phase },
  ]);
  refreshDetails();

  let failure: unknown = null;
  try {
    forward = new CancellationScope();
    await forward.run(async () => {
      if (s.stage === 'deploy') {
        await deployNewColour();
        s.stage = 'steps';
      }
      if (s.stage === 'steps') {
        await runSteps();
        s.stage = 'keep';
      }
      await keepAndRetire();
    });
    forward = null;
    await CancellationScope.nonCancellable(() => retire(`Retire ${s.liveColour}`));
    finish('succeeded', 'completed');
    event('completed', `${title} succeeded: ${target()} serves 100 %`);
    thread.reply(`:white_check_mark: Succeeded: ${target()} serves 100 %; ${s.liveColour} retired`);
  } catch (err) {
    forward = null;
    if (err instanceof ContinueAsNew) throw err;
    const cancelled = isCancellation(err) && s.rollbackRequest === null;
    const reason: RollbackInfo =
      err instanceof RollbackNeeded
        ? err.info
        : s.rollbackRequest ??
          (cancelled
            ? { reason: 'the deployment was cancelled', requestedBy: null, step: s.stage === 'steps' ? s.stepIndex + 1 : null, evidence: null }
            : { reason: `error: ${causeMessage(err)}`, requestedBy: null, step: s.stage === 'steps' ? s.stepIndex + 1 : null, evidence: null });
    if (!(err instanceof RollbackNeeded) && !isCancellation(err)) s.error = causeMessage(err);
    try {
      await CancellationScope.nonCancellable(async () => {
        if (cancelled && (s.stage === 'keep' || s.stage === 'standby' || s.stage === 'retire')) {
          // Traffic is already fully on the new colour: the safe state is to retire the old one.
          s.wait = null;
          await retire(`Retire ${s.liveColour} (cancelled)`);
        } else {
          await rollBack(reason);
        }
      });
    } catch (rollbackErr) {
      s.error = `${s.error ? `${s.error}; ` : ''}rollback failed: ${causeMessage(rollbackErr)}`;
      finish('failed', 'failed');
      event('failed', `${title} FAILED and could not restore traffic: ${s.error}`);
      thread.reply(`:rotating_light: FAILED and could not restore traffic: ${s.error}`);
      failure = rollbackErr;
    }
    if (!failure) {
      if (cancelled) {
        finish('cancelled', 'cancelled');
        event('cancelled', `${title} cancelled; ${s.stage === 'done' && s.rollback === null ? 'previous colour retired' : 'traffic restored'}`);
        thread.reply(`:no_entry: Cancelled; ${s.rollback === null ? 'previous colour retired' : 'traffic restored'}`);
        failure = err;
      } else if (s.error && s.liveColour === null) {
        finish('failed', 'failed');
        event('failed', `${title} failed before changing anything: ${s.error}`);
        thread.reply(`:x: Failed before changing anything: ${s.error}`);
      } else {
        finish('rolled_back', 'rolled_back');
        event('rolled_back', `${title} was ROLLED BACK: ${reason.reason}`);
        thread.reply(`:leftwards_arrow_with_hook: Rolled back: ${reason.reason}`);
      }
    }
  }

  await CancellationScope.nonCancellable(async () => {
    await thread.close(SLACK_CLOSE_MS);
    await condition(allHandlersFinished);
  });
  if (failure) throw failure; // cancelled, or rollback impossible: the run itself shows it
  if (!TERMINAL_PHASES.includes(s.phase)) throw new Error(`deployment ended in non-terminal phase ${s.phase}`);
  const result: DeploymentResult = { id: spec.id, outcome: s.outcome as Outcome, phase: s.phase, rollback: s.rollback, error: s.error, liveAt: s.liveAt ?? null };
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

function causeMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // Activity failures wrap the real error; the innermost message is the useful one.
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? String(err);
}
