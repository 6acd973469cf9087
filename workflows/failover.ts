/**
 * A disaster-recovery failover of one service environment to its DR region, a failback home, or
 * a drill (both, one after the other). Modes (src/domain/failover-run.ts):
 * - planned: approval, preflight (a failing check stops before anything changes), fence the
 *   primary (services to 0, database read-only), wait for ReplicaLag 0, promote, scale the DR
 *   services, smoke-test, switch DNS and read it back, monitor. RPO 0.
 * - emergency: started by one person with the emergency role; preflight failures are risks;
 *   fencing is tried with a bounded wait, and an unfenced primary needs a second person's
 *   confirmation before the promotion (unless config allows it); RPO is the last ReplicaLag.
 * - failback: approval, rebuild a replica at home from the promoted DR database, the same fenced
 *   switch home, rebuild the DR replica, DR back to standby, set-aside instances deleted.
 * - drill: a planned failover, then a failback, then a comparison with what was read before.
 *
 * Invariants:
 * - Region-pinned: every call runs on the queue of the region it acts on (src/domain/regions.ts);
 *   DNS changes run in the region being moved to, so a run carries on when the region it leaves
 *   is gone. Calls into the region being left are bounded (schedule-to-close) and never wait
 *   for a cancellation that region cannot acknowledge.
 * - DNS moves last, only after the new region is promoted, scaled, stable and smoke-tested; a
 *   failure before that leaves DNS where it was and says what state the new region is in.
 * - Once DNS has moved, only a drill moves it back by itself: a run that fails while monitoring
 *   (smoke tests, and the deployment analysis where the region has metrics) leaves DNS on the
 *   new region and says so in its error and state.
 * - Every write is set-to-value (providers read back), so a worker that dies mid-run and retries
 *   a step finds it done: a promotion or a DNS change is never repeated in effect.
 * - Compensation (failure or cancel before DNS moved; any time in a drill) converges from what it
 *   reads: which instance replicates what, which record serves, what the services were
 *   fenced from. It runs when cancelled and keeps trying, escalating, until done.
 * - State and scopes exist before any handler; time is workflow time.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { decisionsOf } from './decisions';
import type { Activities } from '../activities';
import { addWatchSample, WATCH_FAILURE_LIMIT, watchSleepMs } from '../src/domain/analysis';
import { formatDuration } from '../src/domain/durations';
import { causeMessage, ErrorType } from '../src/domain/errors';
import { REPLICA_LAG_WINDOW_SECONDS, servingSetIdentifier, type InstanceFacts } from '../src/domain/failover';
import {
  asideName,
  directionOf,
  dnsDetail,
  drSide,
  failoverMeasures,
  MONITOR_SMOKE_FAILURE_LIMIT,
  monitorDetail,
  planSteps,
  primarySide,
  servingColour,
  whyFailoverDecisionRefused,
  whyNotFailoverDecider,
  type FailoverMeasures,
  type FailoverSide,
  type StepRecord,
} from '../src/domain/failover-run';
import { approvalsPending } from '../src/domain/gates';
import { compactStamp } from '../src/domain/instants';
import type { RunCard } from '../src/domain/notices';
import { cancelRefusal } from '../src/domain/policy';
import { regionQueue } from '../src/domain/regions';
import { appendEvent } from '../src/domain/timeline';
import type { Colour, Outcome, Sample } from '../src/domain/types';
import { CONVERGE, untilConverged } from './converge';
import {
  BatonEnvironment,
  BatonKind,
  BatonOutcome,
  BatonPhase,
  BatonService,
  BatonVersion,
  failoverApprovalUpdate,
  failoverCancelUpdate,
  failoverStatusQuery,
  type CancelInput,
  type FailoverDecisionInput,
  type FailoverInput,
  type FailoverPhase,
  type FailoverStatus,
} from './messages';
import { keepFinalStatus } from './final-status';
import { checkOne } from './readiness';
import { newThreadState, PARENT, runThread } from './thread';
import { analyse } from './watch';

export interface FailoverResult {
  id: string;
  outcome: Outcome;
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  fenced: boolean | null;
  error: string | null;
}

const MAX_TIMELINE = 300;
const SLACK_CLOSE_MS = 30_000;
/** How often a fenced switch reads ReplicaLag while it waits for 0. */
const CATCH_UP_POLL_MS = 5_000;
const STARTED_EMOJI = { planned: ':twisted_rightwards_arrows:', emergency: ':rotating_light:', failback: ':leftwards_arrow_with_hook:', drill: ':test_tube:' } as const;
const TERMINAL: FailoverPhase[] = ['completed', 'failed', 'rejected', 'expired', 'cancelled'];

/** Calls into a region that is up (the one moved to; the one left in a planned run). */
const QUICK: ActivityOptions = {
  startToCloseTimeout: '60s',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 8 },
  // A region that has gone (no worker) could never acknowledge a cancellation.
  cancellationType: ActivityCancellationType.TRY_CANCEL,
};
/** A promotion, a new replica, a rename: minutes on RDS; the heartbeat notices a dead worker. */
const LONG: ActivityOptions = { ...QUICK, startToCloseTimeout: '2h', scheduleToCloseTimeout: '4h', heartbeatTimeout: '60s', retry: { ...QUICK.retry, maximumAttempts: 5 } };
/** An emergency's attempt to fence a region that may be gone: bounded, so "no answer" is known soon. */
const ATTEMPT: ActivityOptions = { ...QUICK, startToCloseTimeout: '30s', scheduleToCloseTimeout: '45s', retry: { initialInterval: '1s', maximumAttempts: 3 } };

function proxies(taskQueue: string) {
  const on = (o: ActivityOptions) => proxyActivities<Activities>({ ...o, taskQueue });
  return { quick: on(QUICK), long: on(LONG), attempt: on(ATTEMPT), converge: on({ ...CONVERGE, taskQueue, cancellationType: ActivityCancellationType.TRY_CANCEL }) };
}

class Stop extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly phase: FailoverPhase,
    reason: string,
  ) {
    super(reason);
  }
}

type Counts = Record<Colour, number>;
/** What a drill reads of both regions before it starts, to compare at the end. */
interface Posture {
  counts: { from: Counts; to: Counts };
  /** The record that serves: the PRIMARY failover record, or the only weighted record above 0. */
  primarySet: string | null;
  instances: Array<Pick<InstanceFacts, 'region' | 'instanceId' | 'status' | 'sourceIdentifier' | 'readOnly'>>;
}

export async function failover(input: FailoverInput): Promise<FailoverResult> {
  const { spec, request, mode } = input;
  input = { ...input, id: input.id || workflowInfo().workflowId };
  const way = directionOf(spec, mode, request.fromRegion, request.toRegion);
  if (!way.ok) throw ApplicationFailure.create({ type: ErrorType.InvalidTransition, message: way.message, nonRetryable: true });
  const { from, to } = way.direction;
  const home = primarySide(spec);
  const away = drSide(spec);
  const now = () => Date.now(); // workflow time: deterministic
  const iso = (ms = now()) => new Date(ms).toISOString();
  const startedMs = now();
  const stamp = compactStamp(startedMs);
  const mainQueue = workflowInfo().taskQueue;
  const at = (region: string) => proxies(regionQueue(mainQueue, region));
  const titles = { planned: 'Failover', emergency: 'EMERGENCY failover', failback: 'Failback', drill: 'DR drill' } as const;
  const title = `${titles[mode]} of ${spec.service} ${spec.environment}: ${from.region} → ${to.region}`;
  const needsApproval = (mode === 'planned' || mode === 'failback') && spec.approvals.length > 0;

  // ---------------------------------------------------------------- state and scopes, before any handler
  const s: Omit<FailoverStatus, 'pending' | 'report'> & { report: Omit<FailoverStatus['report'], keyof FailoverMeasures> } = {
    id: input.id,
    kind: 'failover',
    mode,
    service: spec.service,
    environment: spec.environment,
    fromRegion: from.region,
    toRegion: to.region,
    reason: request.reason,
    requestedBy: request.requestedBy,
    detectedAt: request.detectedAt,
    phase: 'planning',
    outcome: null,
    error: null,
    startedAt: iso(startedMs),
    endedAt: null,
    plan: planSteps(spec, mode, way.direction),
    approvals: [],
    preflight: [],
    risks: [],
    dnsSwitchedAt: null,
    samples: [],
    report: { steps: [], objectives: spec.objectives, fenced: null, confirmedBy: null, cleanup: [], state: null },
    timeline: [],
  };
  /** What the services of the region left ran before they were fenced (also recorded on them). */
  let fencedCounts: Counts | null = null;
  let rpoSeconds: number | null = null;
  let healthyMs: number | null = null;
  let waitingFor: 'approval' | 'confirmation' | null = null;
  let cancelRequest: (CancelInput & { at: string }) | null = null;
  /** Set when the forward flow has stopped: the run only undoes, describes and finishes after it. */
  let ending = false;
  let before: Posture | null = null;
  const asides: Array<{ region: string; instanceId: string }> = [];
  const shield = new CancellationScope({ cancellable: false });
  const forward = new CancellationScope({ cancellable: true, parent: shield });
  const thread = runThread({ state: newThreadState(), notify: input.notify, runId: input.id, card });

  // ---------------------------------------------------------------- status, UI, Slack
  const measured = (): FailoverMeasures => failoverMeasures(startedMs, request.detectedAt ? Date.parse(request.detectedAt) : null, healthyMs, rpoSeconds, spec.objectives);

  function pending(): string[] {
    if (waitingFor === 'approval') return approvalsPending(spec.approvals, spec.environment, s.approvals, request.requestedBy);
    if (waitingFor === 'confirmation') return [`a second person with role ${spec.emergency.role} confirms promoting while ${from.region} is unfenced`];
    return [];
  }

  const status = (): FailoverStatus => ({ ...s, pending: pending(), report: { ...s.report, ...measured() } });

  function facts(): string[] {
    const m = measured();
    const lines: string[] = [];
    const waiting = pending();
    if (waiting.length) lines.push(`Waiting for: ${waiting.join('; ')}`);
    for (const r of s.risks) lines.push(`RISK: ${r}`);
    if (s.report.fenced !== null) lines.push(s.report.fenced ? `${from.region} fenced` : `${from.region} UNFENCED${s.report.confirmedBy ? ` (confirmed by ${s.report.confirmedBy})` : ''}`);
    for (const st of s.report.steps.slice(-6)) lines.push(`${st.outcome === 'ok' ? 'OK' : st.outcome === 'running' ? '…' : st.outcome.toUpperCase()} ${st.name}${st.durationSeconds !== null ? ` (${formatDuration(st.durationSeconds)})` : ''}${st.detail ? `: ${st.detail}` : ''}`);
    if (m.rtoSeconds !== null) lines.push(`RTO ${formatDuration(m.rtoSeconds)} (objective ${formatDuration(spec.objectives.rtoSeconds)})${m.rtoMet === false ? ' MISSED' : ''}${m.detectionSeconds !== null ? `; detection ${formatDuration(m.detectionSeconds)} before` : ''}`);
    if (m.rpoSeconds !== null) lines.push(`RPO ${formatDuration(m.rpoSeconds)} (objective ${formatDuration(spec.objectives.rpoSeconds)})${m.rpoMet === false ? ' MISSED' : ''}`);
    const sample = s.samples.at(-1);
    if (sample) lines.push(`Analysis at ${sample.at}: ${sample.verdict.toUpperCase()} ${sample.message}`);
    if (s.report.state) lines.push(`State: ${s.report.state}`);
    return lines;
  }

  function refresh(): void {
    const head = `**${title}** — phase \`${s.phase}\`${s.outcome ? `, outcome **${s.outcome.toUpperCase()}**` : ''}`;
    setCurrentDetails([head, ...facts().map((f) => `- ${f}`), ...(s.error ? [`- Error: ${s.error}`] : [])].join('\n'));
    thread.touch();
  }

  function card(): RunCard {
    return { kind: 'failover', id: input.id, title, requestedBy: request.requestedBy, phase: s.phase, outcome: s.outcome, progress: null, countdown: null, lines: [`Reason: ${request.reason}`, ...facts()], note: s.error };
  }

  function event(type: string, message: string): void {
    appendEvent(s.timeline, { at: iso(), type, message }, MAX_TIMELINE);
    log.info(message, { type });
    refresh();
  }

  function setPhase(phase: FailoverPhase): void {
    if (s.phase === phase) return;
    s.phase = phase;
    upsertSearchAttributes([{ key: BatonPhase, value: phase }]);
    refresh();
  }

  function finish(outcome: Outcome, phase: FailoverPhase, error: string | null): void {
    s.outcome = outcome;
    s.error = error;
    s.endedAt = iso();
    setPhase(phase);
    upsertSearchAttributes([{ key: BatonOutcome, value: outcome }]);
    refresh();
    thread.touch(PARENT, true);
  }

  function refuse(message: string, status = 409, type: string = ErrorType.InvalidTransition): never {
    throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [{ status }] });
  }

  // Decisions: see workflows/decisions.ts (a scheduled drill without the worker's public key takes unsigned ones).
  const { decider, holderOf, spend } = decisionsOf(input, 'failover');

  /** Runs one step of the report: its start, duration and outcome are recorded whatever happens. */
  async function step<T>(name: string, phase: FailoverPhase | null, fn: () => Promise<T>, detail?: (r: T) => string | null): Promise<T> {
    if (phase) setPhase(phase);
    const rec: StepRecord = { name, startedAt: iso(), durationSeconds: null, outcome: 'running', detail: null };
    s.report.steps.push(rec);
    refresh();
    const started = now();
    try {
      const result = await fn();
      rec.outcome = 'ok';
      rec.detail = detail ? detail(result) : null;
      return result;
    } catch (err) {
      const cancelled = cancelRequest !== null && isCancellation(err);
      rec.outcome = cancelled ? 'cancelled' : 'failed';
      rec.detail = cancelled ? `cancelled by ${cancelRequest!.by}` : causeMessage(err);
      throw err;
    } finally {
      rec.durationSeconds = Math.round((now() - started) / 1000);
      refresh();
    }
  }

  // ---------------------------------------------------------------- handlers
  setHandler(failoverStatusQuery, status);

  setHandler(
    failoverApprovalUpdate,
    (a: FailoverDecisionInput) => {
      spend(a);
      s.approvals.push({ environment: spec.environment, decision: a.decision, by: a.by, roles: holderOf(a)?.roles ?? [], comment: a.comment ?? null, at: iso() });
      const what = waitingFor === 'confirmation' ? (a.decision === 'approve' ? 'confirmed the unfenced promotion' : 'refused the unfenced promotion') : a.decision === 'approve' ? 'approved' : 'rejected';
      event(a.decision === 'approve' ? 'approved' : 'rejected', `${a.by} ${what}${a.comment ? `: ${a.comment}` : ''}`);
      thread.reply(`${a.decision === 'approve' ? ':white_check_mark:' : ':no_entry:'} ${a.by} ${what}${a.comment ? `: ${a.comment}` : ''}`);
      return status();
    },
    {
      validator: (a: FailoverDecisionInput) => {
        // Who decides, then whether they may, then the run's state (authorization before state).
        const who = { ...a, roles: decider('approval', a).roles };
        // Before the run reaches its approval wait the release rules already apply: a decision then counts.
        const early = needsApproval && s.phase === 'planning' ? 'approval' : null;
        const ctx = { waitingFor: waitingFor ?? early, rules: spec.approvals, emergencyRole: spec.emergency.role, phase: s.phase, requestedBy: request.requestedBy, decisions: s.approvals };
        const forbidden = whyNotFailoverDecider(who, ctx);
        if (forbidden) refuse(forbidden.message, forbidden.status);
        if (s.outcome !== null || cancelRequest !== null || ending) refuse(`the failover has ended (${s.outcome ?? (cancelRequest ? 'cancelling' : 'ending')})`);
        const why = whyFailoverDecisionRefused(who, ctx);
        if (why) refuse(why.message, why.status);
      },
    },
  );

  setHandler(
    failoverCancelUpdate,
    (c: CancelInput) => {
      spend(c);
      requestCancel(c);
      return status();
    },
    {
      validator: (c: CancelInput) => {
        const who = decider('cancel', c);
        if (input.cancelRoles) {
          const why = cancelRefusal(input.cancelRoles, who, request.requestedBy, 'failover');
          if (why) refuse(why.message, why.status, ErrorType.DecisionRefused);
        }
        if (s.outcome !== null) refuse(`the failover has ended (${s.outcome})`);
        if (ending && cancelRequest === null) refuse(`the failover is ending (phase ${s.phase}): it has stopped and reads where things stand`);
        if (cancelRequest !== null) refuse(`already cancelled by ${cancelRequest.by} at ${cancelRequest.at}`);
        if (s.phase === 'compensating') refuse('the failover is already undoing what it did');
      },
    },
  );

  function requestCancel(c: CancelInput): void {
    if (cancelRequest !== null || s.outcome !== null) return;
    cancelRequest = { ...c, at: iso() };
    event('cancel_requested', `Cancel requested by ${c.by}: ${c.reason}`);
    thread.reply(`:octagonal_sign: Cancel requested by ${c.by}: ${c.reason}`);
    forward.cancel();
  }

  CancellationScope.current().cancelRequested.catch(() => requestCancel({ by: 'temporal', reason: 'the workflow was cancelled' }));

  // ---------------------------------------------------------------- decisions
  /** Waits for the approvals (or a confirmation); a rejection or the expiry ends the run. */
  async function decide(kind: 'approval' | 'confirmation', phase: FailoverPhase): Promise<void> {
    waitingFor = kind;
    try {
      await waitForDecision(kind, phase);
    } finally {
      // A cancel (or an expiry) ends the wait: the run waits for no one any more.
      waitingFor = null;
    }
  }

  async function waitForDecision(kind: 'approval' | 'confirmation', phase: FailoverPhase): Promise<void> {
    const decidedBefore = s.approvals.length;
    setPhase(phase);
    const rejected = () => s.approvals.slice(kind === 'confirmation' ? decidedBefore : 0).find((a) => a.decision === 'reject');
    const confirmed = () => s.approvals.slice(decidedBefore).find((a) => a.decision === 'approve');
    const done = () => rejected() !== undefined || (kind === 'approval' ? pending().length === 0 : confirmed() !== undefined);
    thread.reply(`:raised_hand: ${kind === 'approval' ? 'Needs approval' : 'Needs confirmation'}: ${pending().join('; ')} (POST /v1/failovers/${input.id}/approvals)`);
    const decided = await condition(done, spec.approvalExpirySeconds * 1000);
    if (!decided) throw new Stop('expired', 'expired', `no ${kind} within ${formatDuration(spec.approvalExpirySeconds)}`);
    const r = rejected();
    if (r) throw new Stop('rejected', 'rejected', `${kind === 'approval' ? 'rejected' : 'promotion refused'} by ${r.by}${r.comment ? `: ${r.comment}` : ''}`);
    if (kind === 'confirmation') s.report.confirmedBy = confirmed()!.by;
  }

  // ---------------------------------------------------------------- steps
  async function preflight(): Promise<void> {
    await step('preflight', 'preflight', async () => {
      if (mode === 'failback') {
        // Home: the DR database must be the standalone primary now, and home must answer.
        const dr = await at(away.region).quick.describeDbInstance.executeWithOptions({ ...QUICK, summary: `Read ${away.database.instanceId} in ${away.region}` }, [away.database]);
        const problems: string[] = [];
        if (dr.status === null) problems.push(`${away.database.instanceId} does not exist in ${away.region}`);
        else if (dr.sourceIdentifier !== null) problems.push(`${away.database.instanceId} is still a read replica: nothing failed over to ${away.region}`);
        else if (dr.status !== 'available') problems.push(`${away.database.instanceId} is ${dr.status}, not available`);
        await at(home.region).attempt.describeDbInstance.executeWithOptions({ ...ATTEMPT, summary: `Check ${home.region} answers` }, [home.database]);
        s.preflight = [{ name: 'replica', ok: problems.length === 0, detail: problems.join('; ') || `${away.database.instanceId} in ${away.region} is the standalone primary` }];
        if (problems.length) throw new Stop('failed', 'failed', `preflight: ${problems.join('; ')}`);
        return;
      }
      const report = await checkOne(spec, iso());
      s.preflight = report.checks;
      const failing = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
      if (mode === 'emergency') {
        s.risks = failing;
        if (failing.length) event('risks', `Preflight found ${failing.length} risk${failing.length === 1 ? '' : 's'}; an emergency goes ahead: ${failing.join('; ')}`);
        return;
      }
      if (failing.length) throw new Stop('failed', 'failed', `preflight failed, nothing changed: ${failing.join('; ')}`);
      const primary = await at(from.region).quick.describeDbInstance.executeWithOptions({ ...QUICK, summary: `Read ${from.database.instanceId} in ${from.region}` }, [from.database]);
      if (primary.status !== 'available' || primary.readOnly) throw new Stop('failed', 'failed', `preflight failed, nothing changed: ${from.database.instanceId} in ${from.region} is ${primary.status ?? 'missing'}${primary.readOnly ? ' and read-only (fenced?)' : ''}`);
    });
  }

  /** Stops writes on side `f`: its services to 0 (counts recorded on them), its database read-only. */
  async function fence(f: FailoverSide, a: 'quick' | 'attempt'): Promise<void> {
    const on = at(f.region)[a];
    const opts = a === 'quick' ? QUICK : ATTEMPT;
    const counts = await on.fenceServices.executeWithOptions({ ...opts, summary: `Fence ${f.compute.cluster} in ${f.region}: services to 0` }, [f.compute, input.id]);
    if (f.region === from.region) fencedCounts = counts;
    for (const colour of ['blue', 'green'] as Colour[]) {
      await on.waitForStable.executeWithOptions({ ...opts, startToCloseTimeout: a === 'quick' ? '15m' : '30s', scheduleToCloseTimeout: a === 'quick' ? '20m' : '45s', heartbeatTimeout: '30s', retry: { maximumAttempts: 1 }, summary: `Wait for ${f.compute.services[colour]} to drain` }, [f.compute, colour, null]);
    }
    await on.fenceDatabase.executeWithOptions({ ...opts, summary: `Make ${f.database.instanceId} read-only` }, [f.database, input.id]);
  }

  /** Fences the region left; in an emergency a region that does not answer leaves it unfenced. */
  async function fenceFrom(): Promise<void> {
    if (mode !== 'emergency') {
      await step('fence', 'fencing', () => fence(from, 'quick'), () => `${from.region}: services to 0 (were blue ${fencedCounts?.blue}, green ${fencedCounts?.green}); ${from.database.instanceId} read-only`);
      s.report.fenced = true;
      return;
    }
    try {
      await step('fence', 'fencing', () => fence(from, 'attempt'), () => `${from.region} fenced`);
      s.report.fenced = true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      s.report.fenced = false;
      // No worker in the region took the work in time, or AWS there refused it.
      const words = err instanceof ActivityFailure && err.cause instanceof TimeoutFailure
        ? `no answer from ${from.region} within ${ATTEMPT.scheduleToCloseTimeout} (no worker took the work on ${regionQueue(mainQueue, from.region)})`
        : causeMessage(err);
      const rec = s.report.steps.at(-1);
      if (rec?.name === 'fence') rec.detail = words;
      event('unfenced', `Could not fence ${from.region}: ${words}; the primary is UNFENCED`);
      thread.reply(`:warning: Could not fence ${from.region}: ${words}. The primary is UNFENCED`);
      if (spec.emergency.allowUnfenced) {
        event('unfenced_allowed', 'Config allows promoting while unfenced: no confirmation asked');
        return;
      }
      await step('confirm', null, () => decide('confirmation', 'awaiting_confirmation'), () => `confirmed by ${s.report.confirmedBy}`);
    }
  }

  /** Fenced: waits for ReplicaLag 0 since the fence (RPO 0). Unfenced: the last ReplicaLag is the RPO. */
  async function catchUp(t: FailoverSide, fencedAtMs: number, fenced: boolean): Promise<void> {
    await step('catch-up', 'catching_up', async () => {
      const on = at(t.region).quick;
      if (!fenced) {
        const lag = await on.readReplicaLag.executeWithOptions({ ...QUICK, summary: `Read the last ReplicaLag of ${t.database.instanceId}` }, [t.database, REPLICA_LAG_WINDOW_SECONDS, iso()]);
        rpoSeconds = lag.latest?.seconds ?? null;
        return lag.latest ? `last ReplicaLag ${lag.latest.seconds} s at ${lag.latest.at}` : `no ReplicaLag in the last ${REPLICA_LAG_WINDOW_SECONDS} s: RPO unknown`;
      }
      const deadline = fencedAtMs + spec.catchUpSeconds * 1000;
      let last: string = 'not reported since the fence';
      for (;;) {
        // Only datapoints after the fence count: the window starts a second after it (CloudWatch
        // cuts StartTime to the second), and a bucket stamped before it (real CloudWatch stamps
        // whole minutes) is not taken as proof.
        const window = Math.floor((now() - fencedAtMs) / 1000) - 1;
        if (window >= 1) {
          const lag = await on.readReplicaLag.executeWithOptions({ ...QUICK, summary: `Read ${t.database.instanceId}'s ReplicaLag since the fence` }, [t.database, window, iso()]);
          if (lag.latest && Date.parse(lag.latest.at) >= fencedAtMs) {
            if (lag.latest.seconds === 0) {
              rpoSeconds = 0;
              return `ReplicaLag 0 at ${lag.latest.at}`;
            }
            last = `${lag.latest.seconds} s at ${lag.latest.at}`;
          }
        }
        if (now() >= deadline) throw new Stop('failed', 'failed', `${t.database.instanceId} did not catch up within ${formatDuration(spec.catchUpSeconds)} (ReplicaLag ${last})`);
        await sleep(CATCH_UP_POLL_MS);
      }
    }, (detail) => detail ?? null);
  }

  async function promote(t: FailoverSide): Promise<void> {
    await step('promote', 'promoting', () => at(t.region).long.promoteReplica.executeWithOptions({ ...LONG, summary: `Promote ${t.database.instanceId} in ${t.region}` }, [t.database]), (f) => `${f.instanceId} is ${f.status}, no longer a replica`);
  }

  /** Scales the DR region to production: the colour the primary served from. */
  async function scaleDr(): Promise<void> {
    const colour = servingColour(fencedCounts);
    const on = at(away.region).quick;
    await step('scale', 'scaling', async () => {
      await on.scaleService.executeWithOptions({ ...QUICK, summary: `Scale ${away.compute.services[colour]} to ${spec.productionCount}` }, [away.compute, colour, spec.productionCount]);
      await on.waitForStable.executeWithOptions({ ...QUICK, startToCloseTimeout: '15m', scheduleToCloseTimeout: '20m', heartbeatTimeout: '60s', retry: { maximumAttempts: 1 }, summary: `Wait for ${away.compute.services[colour]}` }, [away.compute, colour, null]);
    }, () => `${away.compute.services[colour]} runs ${spec.productionCount} tasks`);
  }

  /** Home again: the services back to the counts recorded when they were fenced. */
  async function scaleHome(): Promise<void> {
    const on = at(home.region).quick;
    await step('scale', 'scaling', async () => {
      const counts = await on.unfenceServices.executeWithOptions({ ...QUICK, summary: `Scale ${home.compute.cluster} back to its fenced counts` }, [home.compute, null]);
      for (const colour of ['blue', 'green'] as Colour[]) {
        await on.waitForStable.executeWithOptions({ ...QUICK, startToCloseTimeout: '15m', scheduleToCloseTimeout: '20m', heartbeatTimeout: '60s', retry: { maximumAttempts: 1 }, summary: `Wait for ${home.compute.services[colour]}` }, [home.compute, colour, null]);
      }
      return counts;
    }, (c) => `blue ${c.blue}, green ${c.green}`);
  }

  async function smoke(t: FailoverSide, colours: Colour[]): Promise<void> {
    await step('smoke', 'smoke_testing', async () => {
      for (const colour of colours) {
        const r = await at(t.region).quick.smokeTest.executeWithOptions({ ...QUICK, startToCloseTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '2s' }, summary: `Smoke-test ${t.region} (${colour})` }, [t.smokeTestUrls[colour]]);
        if (!r.ok) throw new Stop('failed', 'failed', `smoke test of ${t.region} failed: ${r.detail}`);
      }
    }, () => `${t.region} answers`);
  }

  async function switchDns(t: FailoverSide): Promise<void> {
    await step('dns', 'switching_dns', () => at(t.region).quick.setDnsPrimary.executeWithOptions({ ...QUICK, summary: `Make '${t.setIdentifier}' PRIMARY for ${spec.dns.recordName}` }, [spec.dns, t.setIdentifier, t.region]), (records) => dnsDetail(spec.dns, records, t.region));
    // RTO is the way there: a drill's switch home later does not move it.
    if (healthyMs !== null) {
      event('dns_switched', `DNS answers ${t.region} again`);
      thread.reply(`:globe_with_meridians: DNS switched back to ${t.region}`);
      return;
    }
    s.dnsSwitchedAt = iso();
    healthyMs = now();
    const m = measured();
    event('dns_switched', `DNS answers ${t.region}: RTO ${formatDuration(m.rtoSeconds ?? 0)}${m.rpoSeconds !== null ? `, RPO ${formatDuration(m.rpoSeconds)}` : ''}`);
    thread.reply(`:globe_with_meridians: DNS switched to ${t.region}. RTO ${formatDuration(m.rtoSeconds ?? 0)} (objective ${formatDuration(spec.objectives.rtoSeconds)}), RPO ${m.rpoSeconds === null ? 'unknown' : formatDuration(m.rpoSeconds)}`);
  }

  /**
   * Watches side `t`, where DNS now sends clients, for spec.monitor.seconds: every interval a smoke
   * test of `colour` and, when the side has metrics, the deployment analysis of it (samples in the
   * status). MONITOR_SMOKE_FAILURE_LIMIT failed smoke tests or WATCH_FAILURE_LIMIT failing samples
   * in a row fail the run, and DNS stays on `t`: moving it again is another run's decision.
   */
  async function monitor(t: FailoverSide, colour: Colour): Promise<void> {
    const { metrics } = t;
    const each = formatDuration(spec.monitor.everySeconds);
    event('monitoring', metrics
      ? `Monitoring ${t.region} (${colour}) for ${formatDuration(spec.monitor.seconds)}: a smoke test and the analysis every ${each}`
      : `Monitoring ${t.region} for ${formatDuration(spec.monitor.seconds)}: a smoke test every ${each}, no analysis (no dr.metrics for ${t.region})`);
    // The samples' step: the monitor step's record, pushed next.
    const index = s.report.steps.length;
    await step('monitor', 'monitoring', async () => {
      const on = at(t.region).quick;
      const started = now();
      const until = started + spec.monitor.seconds * 1000;
      const smoke = { passed: 0, run: 0 };
      let failures = 0;
      const mine: Sample[] = [];
      while (now() < until) {
        await sleep(watchSleepMs(started, spec.monitor.everySeconds * 1000, until, now()));
        const when = iso();
        const r = await on.smokeTest.executeWithOptions({ ...QUICK, startToCloseTimeout: '30s', retry: { maximumAttempts: 2, initialInterval: '2s' }, summary: `Monitor ${t.region}` }, [t.smokeTestUrls[colour]]);
        smoke.run++;
        if (r.ok) smoke.passed++;
        failures = r.ok ? 0 : failures + 1;
        if (failures >= MONITOR_SMOKE_FAILURE_LIMIT) throw new Stop('failed', 'failed', `${t.region} failed ${failures} smoke tests in a row after DNS moved: ${r.detail}; DNS stays on ${t.region}`);
        if (!metrics) continue;
        const measure = () => on.measure.executeWithOptions({ ...QUICK, startToCloseTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '2s' }, summary: `Analyse ${t.region} (${colour})` }, [metrics, colour, spec.monitor.everySeconds, when]);
        const sample = await analyse(measure, spec.thresholds, { at: when, step: index, weight: 100, label: `${t.region} ${colour}` });
        mine.push(sample);
        const watched = addWatchSample(s.samples, sample);
        s.samples = watched.samples;
        refresh();
        if (watched.failed) throw new Stop('failed', 'failed', `${t.region} failed the analysis ${WATCH_FAILURE_LIMIT} times in a row after DNS moved (${sample.message}); DNS stays on ${t.region}`);
      }
      return monitorDetail(t.region, smoke, metrics ? mine : null);
    }, (detail) => detail);
  }

  /**
   * Makes `instance` (in `t`) a read replica of `source`: a different instance of that name is set
   * aside first; the new replica's parameter group is the aside's, unfenced. Converges: an
   * existing replica of `source` is kept.
   */
  async function rebuildReplica(t: FailoverSide, source: FailoverSide): Promise<void> {
    const on = at(t.region);
    const facts = await on.quick.describeDbInstance.executeWithOptions({ ...QUICK, summary: `Read ${t.database.instanceId} in ${t.region}` }, [t.database]);
    const replicates = facts.sourceIdentifier !== null && (facts.sourceIdentifier === source.database.instanceId || facts.sourceIdentifier.endsWith(`:db:${source.database.instanceId}`));
    let like = t.database;
    if (facts.status !== null && !replicates) {
      const aside = { region: t.region, instanceId: asideName(t.database.instanceId, stamp) };
      await on.long.renameDbInstance.executeWithOptions({ ...LONG, summary: `Set ${t.database.instanceId} aside as ${aside.instanceId}` }, [t.database, aside.instanceId]);
      asides.push(aside);
      like = aside;
    } else if (facts.status === null) {
      const aside = { region: t.region, instanceId: asideName(t.database.instanceId, stamp) };
      if (!asides.some((x) => x.instanceId === aside.instanceId)) asides.push(aside);
      like = aside;
    }
    if (!replicates) await on.long.createReplica.executeWithOptions({ ...LONG, summary: `Create ${t.database.instanceId} in ${t.region} as a replica of ${source.database.instanceId}` }, [source.database, t.database, like]);
    await on.quick.unfenceDatabase.executeWithOptions({ ...QUICK, summary: `${t.database.instanceId}'s parameter group writable again (a replica is read-only anyway)` }, [t.database]);
  }

  /**
   * Back home from the DR region: rebuild, fenced switch, DR replica again, DR to standby,
   * set-asides deleted. Returns the colour home serves from (the one with the most tasks).
   */
  async function comeHome(drCounts: Counts | null): Promise<Colour> {
    await step('rebuild', 'rebuilding', () => rebuildReplica(home, away), () => `${home.database.instanceId} replicates ${away.database.instanceId}`);
    await step('fence', 'fencing', () => fence(away, 'quick'), () => `${away.region}: services to 0; ${away.database.instanceId} read-only`);
    if (mode === 'failback') s.report.fenced = true;
    const fencedAtMs = now();
    await catchUp(home, fencedAtMs, true);
    await promote(home);
    await scaleHome();
    const counts = await at(home.region).quick.readDrCompute.executeWithOptions({ ...QUICK, summary: `Read ${home.compute.cluster}'s counts` }, [home.compute]);
    const live = (['blue', 'green'] as Colour[]).filter((c) => counts.services[c].desiredCount > 0);
    await smoke(home, live.length ? live : ['blue']);
    await switchDns(home);
    await step('rebuild-dr', 'rebuilding', async () => {
      await rebuildReplica(away, home);
      const target = drCounts ?? { blue: 0, green: 0, [servingColour(fencedCounts)]: spec.standbyCount };
      await at(away.region).quick.unfenceServices.executeWithOptions({ ...QUICK, summary: `DR services to standby (blue ${target.blue}, green ${target.green})` }, [away.compute, target]);
    }, () => `${away.database.instanceId} replicates ${home.database.instanceId}; DR at standby`);
    await cleanUpAsides('quick');
    return servingColour({ blue: counts.services.blue.desiredCount, green: counts.services.green.desiredCount });
  }

  async function cleanUpAsides(a: 'quick' | 'converge'): Promise<void> {
    if (!asides.length) return;
    await step('clean-up', null, async () => {
      for (const x of [...asides]) {
        const final = mode === 'drill' ? null : `${x.instanceId}-final`;
        await at(x.region)[a].deleteDbInstance.executeWithOptions({ ...(a === 'quick' ? QUICK : CONVERGE), summary: `Delete ${x.instanceId}${final ? ` (final snapshot ${final})` : ''}` }, [x, final]);
        s.report.cleanup.push(`deleted ${x.instanceId} in ${x.region}${final ? ` (final snapshot ${final})` : ''}`);
        asides.splice(asides.indexOf(x), 1);
      }
    });
  }

  async function readPosture(a: 'quick' | 'converge'): Promise<Posture> {
    const opts = a === 'quick' ? QUICK : CONVERGE;
    const fromCompute = await at(home.region)[a].readDrCompute.executeWithOptions({ ...opts, summary: `Read ${home.compute.cluster} in ${home.region}` }, [home.compute]);
    const toCompute = await at(away.region)[a].readDrCompute.executeWithOptions({ ...opts, summary: `Read ${away.compute.cluster} in ${away.region}` }, [away.compute]);
    const records = await at(away.region)[a].readFailoverRecords.executeWithOptions({ ...opts, summary: `Read ${spec.dns.recordName}` }, [spec.dns, away.region]);
    const instances = [];
    for (const side of [home, away]) {
      const f = await at(side.region)[a].describeDbInstance.executeWithOptions({ ...opts, summary: `Read ${side.database.instanceId}` }, [side.database]);
      instances.push({ region: f.region, instanceId: f.instanceId, status: f.status, sourceIdentifier: f.sourceIdentifier === null ? null : f.sourceIdentifier.replace(/^arn:[^:]+:rds:[^:]+:[^:]*:db:/, ''), readOnly: f.readOnly });
    }
    const count = (c: typeof fromCompute): Counts => ({ blue: c.services.blue.desiredCount, green: c.services.green.desiredCount });
    return { counts: { from: count(fromCompute), to: count(toCompute) }, primarySet: servingSetIdentifier(spec.dns, records), instances };
  }

  function differences(a: Posture, b: Posture): string[] {
    const out: string[] = [];
    for (const side of ['from', 'to'] as const) {
      for (const c of ['blue', 'green'] as Colour[]) if (a.counts[side][c] !== b.counts[side][c]) out.push(`${side === 'from' ? home.region : away.region} ${c} runs ${b.counts[side][c]} tasks, not ${a.counts[side][c]}`);
    }
    if (a.primarySet !== b.primarySet) out.push(`the record that serves is '${b.primarySet ?? 'none alone'}', not '${a.primarySet ?? 'none alone'}'`);
    a.instances.forEach((x, i) => {
      const y = b.instances[i];
      if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${x.instanceId} is ${JSON.stringify(y)}, was ${JSON.stringify(x)}`);
    });
    return out;
  }

  // ---------------------------------------------------------------- compensation
  /** Runs a compensation step until it succeeds (workflows/converge.ts), telling the timeline and, when stuck, the channel. */
  function untilDone(what: string, step: () => Promise<void>): Promise<void> {
    return untilConverged(what, step, {
      retried: (message) => event('compensation_retry', message),
      stuck: (message) => thread.reply(`:rotating_light: ${title}: ${message}`, { alert: true }),
    });
  }

  /**
   * Before DNS moved (any mode but a drill, which always converges home): undo what was done, from
   * what is read. A promoted DR database is fenced read-only and rebuilt as a replica of the
   * primary; the primary is unfenced; the services left run again. An emergency whose primary
   * did not answer changes nothing in it: the state is described instead.
   */
  async function compensate(): Promise<void> {
    setPhase('compensating');
    const c = (region: string) => at(region).converge;
    if (mode === 'drill') {
      await untilDone('bringing the drill home', async () => {
        const dr = await c(away.region).describeDbInstance.executeWithOptions({ ...CONVERGE, summary: `Read ${away.database.instanceId}` }, [away.database]);
        if (dr.status !== null && dr.sourceIdentifier === null) {
          await comeHome(before?.counts.to ?? null);
        } else {
          await undoFence(home, away);
        }
      });
      return;
    }
    if (mode === 'emergency' && s.report.fenced !== true) {
      s.report.state = await describeState();
      return;
    }
    await untilDone('undoing the switch', () => undoFence(from, to));
  }

  /** Side `f` serves again: the promoted `t` (if any) is fenced and rebuilt as a replica, DNS on `f`, `f` unfenced. */
  async function undoFence(f: FailoverSide, t: FailoverSide): Promise<void> {
    const c = (region: string) => at(region).converge;
    const other = await c(t.region).describeDbInstance.executeWithOptions({ ...CONVERGE, summary: `Read ${t.database.instanceId}` }, [t.database]);
    if (other.status !== null && other.sourceIdentifier === null && t.region === away.region) {
      await c(t.region).fenceDatabase.executeWithOptions({ ...CONVERGE, summary: `Make the promoted ${t.database.instanceId} read-only` }, [t.database, input.id]);
      await rebuildReplica(t, f);
      s.report.cleanup.push(`rebuilt ${t.database.instanceId} as a replica of ${f.database.instanceId}`);
    }
    await c(t.region).setDnsPrimary.executeWithOptions({ ...CONVERGE, summary: `'${f.setIdentifier}' PRIMARY again` }, [spec.dns, f.setIdentifier, t.region]);
    await c(f.region).unfenceDatabase.executeWithOptions({ ...CONVERGE, summary: `${f.database.instanceId} writable again` }, [f.database]);
    const counts = await c(f.region).unfenceServices.executeWithOptions({ ...CONVERGE, summary: `${f.compute.cluster} back to its fenced counts` }, [f.compute, null]);
    s.report.cleanup.push(`${f.region} unfenced (blue ${counts.blue}, green ${counts.green}); DNS on ${f.region}`);
    if (t.region === away.region) {
      const target = before?.counts.to ?? { blue: 0, green: 0, [servingColour(fencedCounts)]: spec.standbyCount };
      await c(t.region).unfenceServices.executeWithOptions({ ...CONVERGE, summary: `DR services to standby` }, [t.compute, target]);
      s.report.cleanup.push(`${t.region} back to standby (blue ${target.blue}, green ${target.green})`);
    }
    await cleanUpAsides('converge');
  }

  /** Where things stand, in words, read from AWS (what answers). */
  async function describeState(): Promise<string> {
    const parts: string[] = [];
    // Only a drill moves DNS back by itself (its compensation comes home).
    parts.push(s.dnsSwitchedAt ? `DNS answers ${to.region} since ${s.dnsSwitchedAt}${mode === 'drill' ? '' : ' and stays there'}` : `DNS still answers ${from.region}`);
    try {
      const t = await at(to.region).attempt.describeDbInstance.executeWithOptions({ ...ATTEMPT, summary: `Read ${to.database.instanceId}` }, [to.database]);
      parts.push(t.status === null ? `${to.database.instanceId} does not exist` : `${to.database.instanceId} in ${to.region} is ${t.status}, ${t.sourceIdentifier ? 'still a replica' : 'promoted (standalone)'}${t.readOnly ? ', read-only' : ''}`);
      const c = await at(to.region).attempt.readDrCompute.executeWithOptions({ ...ATTEMPT, summary: `Read ${to.compute.cluster}` }, [to.compute]);
      parts.push(`${to.compute.cluster} in ${to.region} wants blue ${c.services.blue.desiredCount}, green ${c.services.green.desiredCount} (running ${c.services.blue.runningCount}, ${c.services.green.runningCount})`);
    } catch (err) {
      parts.push(`${to.region} could not be read: ${causeMessage(err)}`);
    }
    parts.push(s.report.fenced === true ? `${from.region} fenced` : s.report.fenced === false ? `${from.region} unfenced` : `${from.region} untouched`);
    return parts.join('; ');
  }

  // ---------------------------------------------------------------- main
  upsertSearchAttributes([
    { key: BatonKind, value: 'failover' },
    { key: BatonService, value: spec.service },
    { key: BatonEnvironment, value: spec.environment },
    { key: BatonVersion, value: mode },
    { key: BatonPhase, value: s.phase },
  ]);
  event('started', `${title} requested by ${request.requestedBy}: ${request.reason}`);
  thread.reply(`${STARTED_EMOJI[mode]} ${title}, requested by ${request.requestedBy}: ${request.reason}`);

  await shield.run(async () => {
    try {
      await forward.run(async () => {
        if (needsApproval) await step('approval', null, () => decide('approval', 'awaiting_approval'), () => `approved by ${s.approvals.filter((a) => a.decision === 'approve').map((a) => a.by).join(', ')}`);
        await preflight();
        if (mode === 'failback') {
          await monitor(home, await comeHome(null));
          return;
        }
        if (mode === 'drill') before = await readPosture('quick');
        await fenceFrom();
        await catchUp(to, now(), s.report.fenced === true);
        await promote(to);
        await scaleDr();
        const colour = servingColour(fencedCounts);
        await smoke(to, [colour]);
        await switchDns(to);
        await monitor(to, colour);
        if (mode === 'drill') {
          setPhase('failing_back');
          await comeHome(before!.counts.to);
          const after = await readPosture('quick');
          const diff = differences(before!, after);
          s.report.cleanup.push(diff.length ? `NOT as found: ${diff.join('; ')}` : 'both regions as found (services, databases, DNS)');
          if (diff.length) throw new Stop('failed', 'failed', `the drill left things changed: ${diff.join('; ')}`);
        }
      });
    } catch (err) {
      // From here on the run ends: a decision or a cancel could no longer change that.
      ending = true;
      const stop = err instanceof Stop ? err : null;
      // A cancel accepted just before the run stopped waiting (expired, rejected) still ends it cancelled.
      const cancelled = cancelRequest !== null && (stop ? stop.outcome === 'expired' || stop.outcome === 'rejected' : isCancellation(err));
      const reason = cancelled ? `cancelled by ${cancelRequest!.by}: ${cancelRequest!.reason}` : stop ? stop.message : `error: ${causeMessage(err)}`;
      event(cancelled ? 'cancelled' : stop?.phase ?? 'error', reason);
      const undo = mode === 'drill' || (s.dnsSwitchedAt === null && s.report.fenced !== null);
      if (undo) await compensate();
      s.report.state ??= await describeState();
      if (cancelled) finish('cancelled', 'cancelled', reason);
      else if (stop && ['rejected', 'expired'].includes(stop.outcome)) finish(stop.outcome, stop.phase, reason);
      else finish('failed', 'failed', reason);
      thread.reply(`:x: ${title} ${s.outcome}: ${reason}. ${s.report.state}${s.report.cleanup.length ? ` (${s.report.cleanup.join('; ')})` : ''}`);
      return;
    }
    finish('succeeded', 'completed', null);
    const m = measured();
    const steps = s.report.steps.map((x) => `${x.name} ${x.durationSeconds ?? 0}s`).join(', ');
    thread.reply(`:white_check_mark: ${title} succeeded. RTO ${m.rtoSeconds === null ? 'n/a' : formatDuration(m.rtoSeconds)} (objective ${formatDuration(spec.objectives.rtoSeconds)}), RPO ${m.rpoSeconds === null ? 'unknown' : formatDuration(m.rpoSeconds)} (objective ${formatDuration(spec.objectives.rpoSeconds)}); ${s.report.fenced ? 'fenced' : 'UNFENCED'}. Steps: ${steps}${s.report.cleanup.length ? `. Cleaned up: ${s.report.cleanup.join('; ')}` : ''}`);
  });

  await CancellationScope.nonCancellable(async () => {
    await thread.close(SLACK_CLOSE_MS);
    await condition(allHandlersFinished);
  });
  if (!TERMINAL.includes(s.phase)) throw new Error(`failover ended in non-terminal phase ${s.phase}`);
  keepFinalStatus(status());
  const m = measured();
  const result: FailoverResult = { id: input.id, outcome: s.outcome!, rtoSeconds: m.rtoSeconds, rpoSeconds: m.rpoSeconds, fenced: s.report.fenced, error: s.error };
  if (result.outcome === 'cancelled') throw new CancelledFailure(`${title} cancelled: ${s.error}`);
  if (result.outcome !== 'succeeded') throw ApplicationFailure.create({ type: ErrorType.FailoverEnded, message: `${title} ${result.outcome}: ${s.error}`, nonRetryable: true, details: [result] });
  return result;
}
