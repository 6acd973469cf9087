/**
 * A database restore (or, with `mode: drill`, a rehearsal of one): plan, approval, quiesce the
 * services, restore into a copy beside the original, verify it fail-closed, switch, resume the
 * services, smoke-test and watch them, keep the original aside for the retention, drop it.
 *
 * Invariants:
 * - Everything a handler touches (state, scopes, the Slack thread) exists before any handler
 *   is registered, so an Update in the run's first task acts like any other.
 * - The original is never written: the restore goes into a new copy, and only the switch (a
 *   rename, or repointing a record) moves the services. Before the switch, a failure drops the
 *   copy and resumes the services on the original; after it, a failure switches back.
 * - Compensation converges from what it reads (which database serves, how many tasks run), not
 *   from flags, runs even when the run is cancelled, and keeps trying (escalating) until done.
 * - The approved plan is fixed by its hash: after the approval the run plans again and stops,
 *   changing nothing, if what it would do differs from what was approved.
 * - A drill never switches and never quiesces: it restores a recent point into a scratch copy,
 *   verifies it, records how long it took, and drops the copy, also when cancelled.
 * - Slack (thread.ts) is told, never waited on.
 * - Region-pinned: an RDS database's activities run on its region's task queue, a service's
 *   ECS calls, smoke tests and metrics on its region's; a PostgreSQL database's, the ledger and
 *   Slack on the main queue (src/domain/regions.ts). A queue no worker serves holds its
 *   activity scheduled: nothing changes there until a worker for that region polls.
 * - Deterministic: time is workflow time; every external fact comes from an activity.
 */
import {
  ActivityCancellationType,
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
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { decisionsOf } from './decisions';
import type { Activities } from '../activities';
import { addWatchSample, watchSleepMs } from '../src/domain/analysis';
import type { DatabaseTarget, VerificationResult } from '../src/domain/database';
import { formatDuration } from '../src/domain/durations';
import { compactStamp } from '../src/domain/instants';
import { causeMessage, ErrorType } from '../src/domain/errors';
import { approvalsPending } from '../src/domain/gates';
import type { RunCard } from '../src/domain/notices';
import { databaseQueue, regionQueue } from '../src/domain/regions';
import { cancelRefusal } from '../src/domain/policy';
import { describePlan, measures, verificationFailure, whyNotRestoreDecider, whyRestoreDecisionRefused, type DatabaseService, type RestoreMeasures, type RunRecord } from '../src/domain/restore';
import { appendEvent } from '../src/domain/timeline';
import type { Colour, Outcome } from '../src/domain/types';
import {
  BatonEnvironment,
  BatonKind,
  BatonOutcome,
  BatonPhase,
  BatonService,
  BatonVersion,
  restoreApprovalUpdate,
  restoreCancelUpdate,
  restoreStatusQuery,
  type ApprovalInput,
  type CancelInput,
  type RestoreInput,
  type RestorePhase,
  type RestoreStatus,
} from './messages';
import { keepFinalStatus } from './final-status';
import { CONVERGE, untilConverged } from './converge';
import { newThreadState, PARENT, runThread } from './thread';
import { analyse } from './watch';

/** The run's state: its status but for what is derived from it when asked (pending approvals, RPO, RTO). */
type RestoreState = Omit<RestoreStatus, 'pending' | keyof RestoreMeasures>;

export interface RestoreResult {
  id: string;
  outcome: Outcome;
  rpoSeconds: number | null;
  rtoSeconds: number | null;
  error: string | null;
}

const MAX_TIMELINE = 200;
const SLACK_CLOSE_MS = 30_000;
const TERMINAL: RestorePhase[] = ['completed', 'failed', 'rolled_back', 'rejected', 'expired', 'cancelled'];

const QUICK: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: [ErrorType.InfrastructureMismatch] },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
/** Restoring and verifying a large database takes long; the heartbeat (every 5 s while a call runs) notices a dead worker. */
const LONG: ActivityOptions = { ...QUICK, startToCloseTimeout: '6h', heartbeatTimeout: '30s', retry: { ...QUICK.retry, maximumAttempts: 3 } };

/** The activity proxies on one task queue (default: the workflow's own, the main queue). */
function proxies(taskQueue?: string) {
  const on = (o: ActivityOptions) => proxyActivities<Activities>(taskQueue ? { ...o, taskQueue } : o);
  return { quick: on(QUICK), long: on(LONG), converge: on(CONVERGE) };
}
/** Activities that act on no AWS region (the database's ledger, through Temporal). */
const { quick } = proxies();

/** Thrown inside the forward flow to end it: with an outcome, a phase and a reason. */
class Stop extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly phase: RestorePhase,
    reason: string,
  ) {
    super(reason);
  }
}

export async function restore(input: RestoreInput): Promise<RestoreResult> {
  const { spec, request } = input;
  // A scheduled drill's id is its workflow id (`drill:<database>:<environment>-<time>`).
  input = { ...input, id: input.id || workflowInfo().workflowId };
  const drill = input.mode === 'drill';
  const now = () => Date.now(); // workflow time: deterministic
  const iso = (ms = now()) => new Date(ms).toISOString();
  const startedMs = now();
  const title = `${drill ? 'Drill: restore' : 'Restore'} ${spec.database} in ${spec.environment}`;
  const db: DatabaseTarget = spec.target;
  // Region-pinned work (src/domain/regions.ts): the database's activities run on its region's
  // queue (RDS) or the main queue (PostgreSQL); a service's on the queue of its region.
  const mainQueue = workflowInfo().taskQueue;
  const onDb = proxies(databaseQueue(mainQueue, db));
  const onRegion = (region: string) => proxies(regionQueue(mainQueue, region));

  // ---------------------------------------------------------------- state and scopes, before any handler
  // What the status derives (what approvals still lack, RPO and RTO) is computed when asked, not kept.
  const s: RestoreState = {
    id: input.id,
    kind: 'restore',
    mode: input.mode,
    environment: spec.environment,
    database: spec.database,
    target: request.target,
    reason: request.reason,
    incidentAt: request.incidentAt,
    requestedBy: request.requestedBy,
    phase: 'planning',
    outcome: null,
    error: null,
    startedAt: iso(startedMs),
    endedAt: null,
    plan: null,
    approvals: [],
    copy: null,
    verification: [],
    services: drill ? [] : spec.services.map((x) => ({ service: x.service, capacity: null, smoke: null })),
    switchedAt: null,
    switchedBackAt: null,
    setAside: null,
    resumedAt: null,
    objectives: spec.objectives,
    samples: [],
    cleanup: [],
    timeline: [],
  };
  let cancelRequest: (CancelInput & { at: string }) | null = null;
  /** Whether the restore activity may have started (so a copy may exist, even half-made). */
  let copyMayExist = false;
  const shield = new CancellationScope({ cancellable: false });
  const forward = new CancellationScope({ cancellable: true, parent: shield });
  const thread = runThread({ state: newThreadState(), notify: input.notify, runId: input.id, card });

  // ---------------------------------------------------------------- status, UI, Slack
  /** What the approval rules still lack, while the run waits for them. */
  const pending = (): string[] =>
    s.phase === 'awaiting_approval' ? approvalsPending(spec.approvals, spec.environment, s.approvals, request.requestedBy) : [];

  /**
   * RPO once the copy is made; RTO once the services were resumed on the restored data (a run
   * that never switched, or a drill, has none: its services never left the original).
   */
  function measured(): RestoreMeasures {
    const none: RestoreMeasures = { rpoSeconds: null, rtoSeconds: null, rpoMet: null, rtoMet: null };
    if (!s.plan || !s.copy) return none;
    const resumedOnCopy = s.switchedAt !== null && s.resumedAt !== null ? Date.parse(s.resumedAt) : null;
    return measures(s.plan, s.copy.lastCommitAt, startedMs, resumedOnCopy, spec.objectives);
  }

  const status = (): RestoreStatus => ({ ...s, pending: pending(), ...measured() });

  function facts(): string[] {
    const lines: string[] = [];
    const m = measured();
    const waiting = pending();
    if (s.plan) lines.push(`Plan: ${describePlan(s.plan)}`);
    if (waiting.length) lines.push(`Waiting for: ${waiting.join('; ')}`);
    for (const v of s.verification) lines.push(`${v.ok ? 'OK' : 'FAILED'} ${v.name}: ${v.detail}`);
    if (s.switchedAt) lines.push(`Switched at ${s.switchedAt}${s.setAside ? `; the original kept as ${s.setAside.name}` : ''}`);
    if (s.switchedBackAt) lines.push(`Switched back at ${s.switchedBackAt}`);
    if (m.rpoSeconds !== null) lines.push(`RPO ${formatDuration(m.rpoSeconds)} (objective ${formatDuration(spec.objectives.rpoSeconds)})${m.rpoMet === false ? ' MISSED' : ''}`);
    if (m.rtoSeconds !== null) lines.push(`RTO ${formatDuration(m.rtoSeconds)} (objective ${formatDuration(spec.objectives.rtoSeconds)})${m.rtoMet === false ? ' MISSED' : ''}`);
    return lines;
  }

  function refresh(): void {
    const head = `**${title}** — phase \`${s.phase}\`${s.outcome ? `, outcome **${s.outcome.toUpperCase()}**` : ''}`;
    setCurrentDetails([head, ...facts().map((f) => `- ${f}`), ...(s.error ? [`- Error: ${s.error}`] : [])].join('\n'));
    thread.touch();
  }

  function card(): RunCard {
    return {
      kind: 'restore',
      id: input.id,
      title,
      requestedBy: request.requestedBy,
      phase: s.phase,
      outcome: s.outcome,
      progress: null,
      countdown: null,
      lines: [`Reason: ${request.reason}`, ...facts()],
      note: s.error,
    };
  }

  function event(type: string, message: string): void {
    appendEvent(s.timeline, { at: iso(), type, message }, MAX_TIMELINE);
    log.info(message, { type });
    refresh();
  }

  function setPhase(phase: RestorePhase): void {
    if (s.phase === phase) return;
    s.phase = phase;
    upsertSearchAttributes([{ key: BatonPhase, value: phase }]);
    refresh();
  }

  function finish(outcome: Outcome, phase: RestorePhase, error: string | null): void {
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

  // Decisions: see workflows/decisions.ts (a drill takes no approvals anyway).
  const { decider, holderOf, spend } = decisionsOf(input, 'restore');

  // ---------------------------------------------------------------- handlers
  setHandler(restoreStatusQuery, status);

  setHandler(
    restoreApprovalUpdate,
    (a: ApprovalInput) => {
      spend(a);
      s.approvals.push({ environment: spec.environment, decision: a.decision, by: a.by, roles: holderOf(a)?.roles ?? [], comment: a.comment ?? null, at: iso() });
      event(a.decision === 'approve' ? 'approved' : 'rejected', `${a.by} ${a.decision === 'approve' ? 'approved' : 'rejected'} the restore${a.comment ? `: ${a.comment}` : ''}`);
      thread.reply(`${a.decision === 'approve' ? ':white_check_mark:' : ':no_entry:'} ${a.by} ${a.decision === 'approve' ? 'approved' : 'rejected'}${a.comment ? `: ${a.comment}` : ''}`);
      return status();
    },
    {
      validator: (a: ApprovalInput) => {
        // Who decides, then whether they may, then the run's state (authorization before state).
        const who = { ...a, roles: decider('approval', a).roles };
        if (a.environment !== spec.environment) refuse(`this restore is in '${spec.environment}', not '${a.environment}'`, 400);
        const rules = drill ? [] : spec.approvals;
        const forbidden = whyNotRestoreDecider(who, { rules, requestedBy: request.requestedBy });
        if (forbidden) refuse(forbidden.message, forbidden.status);
        if (s.outcome !== null || cancelRequest !== null) refuse(`the restore has ended (${s.outcome ?? 'cancelling'})`);
        // Before the plan is made the approval rules already apply: a decision then is kept and counts.
        const awaiting = s.phase === 'awaiting_approval' || s.phase === 'planning';
        const why = whyRestoreDecisionRefused(who, { rules, awaiting, phase: s.phase, requestedBy: request.requestedBy, approvals: s.approvals });
        if (why) refuse(why.message, why.status);
      },
    },
  );

  setHandler(
    restoreCancelUpdate,
    (c: CancelInput) => {
      spend(c);
      requestCancel(c);
      return status();
    },
    {
      validator: (c: CancelInput) => {
        const who = decider('cancel', c);
        if (input.cancelRoles) {
          const why = cancelRefusal(input.cancelRoles, who, request.requestedBy, 'restore');
          if (why) refuse(why.message, why.status, ErrorType.DecisionRefused);
        }
        if (s.outcome !== null) refuse(`the restore has ended (${s.outcome})`);
        if (cancelRequest !== null) refuse(`already cancelled by ${cancelRequest.by} at ${cancelRequest.at}`);
        if (s.phase === 'compensating' || s.phase === 'cleaning_up') refuse(`the restore is already undoing what it did (phase ${s.phase})`);
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

  // The run's own cancellation (Temporal UI, API) is a cancel request like any other.
  CancellationScope.current().cancelRequested.catch(() => requestCancel({ by: 'temporal', reason: 'the workflow was cancelled' }));

  // ---------------------------------------------------------------- the forward flow
  function decision(): 'approved' | 'rejected' | null {
    if (s.approvals.some((a) => a.decision === 'reject')) return 'rejected';
    return pending().length === 0 ? 'approved' : null;
  }

  async function plan(): Promise<void> {
    const result = await onDb.quick.planRestore.executeWithOptions({ ...QUICK, summary: 'Plan the restore' }, [{ spec, target: request.target, incidentAt: request.incidentAt ?? iso(startedMs) }]);
    if (!result.ok) throw new Stop('failed', 'failed', `no plan: ${result.problem}`);
    s.plan = result.plan;
    event('planned', `Plan: ${describePlan(result.plan)}${result.plan.expectedDurationSeconds !== null ? `; past restores took ${formatDuration(result.plan.expectedDurationSeconds)}` : ''} (plan ${result.plan.hash})`);
    thread.reply(`:clipboard: ${describePlan(result.plan)}`);
  }

  async function approve(): Promise<void> {
    if (drill || spec.approvals.length === 0) return;
    setPhase('awaiting_approval');
    thread.reply(`:raised_hand: Needs approval: ${pending().join('; ')} (POST /v1/restores/${input.id}/approvals)`);
    const decided = await condition(() => decision() !== null, spec.approvalExpirySeconds * 1000);
    if (!decided) throw new Stop('expired', 'expired', `not approved within ${formatDuration(spec.approvalExpirySeconds)}`);
    if (decision() === 'rejected') {
      const r = s.approvals.find((a) => a.decision === 'reject');
      throw new Stop('rejected', 'rejected', `rejected by ${r?.by}${r?.comment ? `: ${r.comment}` : ''}`);
    }
    // What was approved is what runs: plan again against what exists now, pinned to the approved point.
    const approved = s.plan!;
    const pinned = approved.pointInTime !== null ? { pointInTime: approved.pointInTime } : { backup: approved.backup.id };
    const again = await onDb.quick.planRestore.executeWithOptions({ ...QUICK, summary: 'Check the approved plan still holds' }, [{ spec, target: pinned, incidentAt: approved.incidentAt }]);
    if (!again.ok) throw new Stop('failed', 'failed', `the approved plan no longer holds: ${again.problem}`);
    if (again.plan.hash !== approved.hash) {
      throw new Stop('failed', 'failed', `the plan drifted after approval (approved ${approved.hash}, now ${again.plan.hash}: ${describePlan(again.plan)}); start a new restore`);
    }
    event('plan_confirmed', `The approved plan ${approved.hash} still holds`);
  }

  async function quiesce(): Promise<void> {
    if (drill || spec.services.length === 0) return;
    setPhase('quiescing');
    for (const [i, svc] of spec.services.entries()) {
      // Observed before anything changes: the counts to resume to, in history before the first write.
      s.services[i].capacity ??= await onRegion(svc.compute.region).quick.readCapacity.executeWithOptions({ ...QUICK, summary: `Read ${svc.service}'s task counts` }, [svc.compute]);
      await scaleTo(svc, { blue: 0, green: 0 }, 'quick', `Quiesce ${svc.service}`);
      event('quiesced', `${svc.service} quiesced (was blue ${s.services[i].capacity!.blue}, green ${s.services[i].capacity!.green} tasks)`);
    }
  }

  /** `kind`: the forward flow's activities and options (`quick`) or compensation's (`converge`). */
  async function scaleTo(svc: DatabaseService, counts: { blue: number; green: number }, kind: 'quick' | 'converge', summary: string): Promise<void> {
    const a = onRegion(svc.compute.region)[kind];
    const base = kind === 'converge' ? CONVERGE : QUICK;
    const compute = svc.compute;
    for (const colour of ['blue', 'green'] as Colour[]) {
      await a.scaleService.executeWithOptions({ ...base, summary: `${summary}: ${colour} to ${counts[colour]}` }, [compute, colour, counts[colour]]);
    }
    for (const colour of ['blue', 'green'] as Colour[]) {
      await a.waitForStable.executeWithOptions({ ...base, startToCloseTimeout: '15m', heartbeatTimeout: '60s', retry: { maximumAttempts: 1 }, summary: `${summary}: wait for ${colour}` }, [compute, colour, null]);
    }
  }

  async function restoreCopy(): Promise<void> {
    setPhase('restoring');
    const p = s.plan!;
    const own = await onDb.long.verifyBackup.executeWithOptions({ ...LONG, summary: `Check backup ${p.backup.id}` }, [db, p.backup.id]);
    record([own]);
    if (!own.ok) throw new Stop('failed', 'failed', `backup ${p.backup.id} failed its own checks: ${own.detail}`);
    copyMayExist = true;
    s.copy = await onDb.long.restoreDatabase.executeWithOptions({ ...LONG, summary: describePlan(p) }, [db, { restoreId: input.id, backupId: p.backup.id, pointInTime: p.pointInTime }]);
    event('restored', `Restored into ${s.copy.name}${s.copy.lastCommitAt ? `; its last commit is at ${s.copy.lastCommitAt}` : ''}`);
  }

  function record(results: VerificationResult[]): void {
    s.verification.push(...results);
    for (const r of results) event(r.ok ? 'verified' : 'verification_failed', `${r.ok ? 'Passed' : 'FAILED'} ${r.name}: ${r.detail}`);
  }

  async function verify(): Promise<void> {
    setPhase('verifying');
    const p = s.plan!;
    // The manifest describes the backup's own point: comparable only when no log was replayed on top.
    const manifest = p.pointInTime === null ? p.backup.manifest : null;
    if (spec.critical.length > 0 && p.pointInTime !== null) {
      event('manifest_not_applicable', `Manifest not compared: the log was replayed past backup ${p.backup.id} (integrity and assertions still run)`);
    }
    const results = await onDb.long.verifyRestore.executeWithOptions({ ...LONG, summary: 'Verify the restored copy' }, [db, input.id, { manifest, assertions: spec.assertions }]);
    record(results);
    const failure = verificationFailure([...s.verification.filter((v) => v.kind === 'backup'), ...results]);
    if (failure) throw new Stop('failed', 'failed', `verification failed: ${failure}`);
    thread.reply(`:white_check_mark: Verified: ${results.map((r) => r.name).join(', ')}`);
  }

  /** `<name>_pre_restore_<yyyymmddhhmm>` (PostgreSQL) or `<name>-pre-restore-<yyyymmddhhmm>` (RDS; config keeps it within 63 characters). */
  function setAsideName(): string {
    const stamp = compactStamp(startedMs).replace('T', '').slice(0, 12);
    return db.kind === 'postgres' ? `${db.database}_pre_restore_${stamp}` : `${db.instanceId}-pre-restore-${stamp}`;
  }

  async function switchOver(): Promise<void> {
    setPhase('switching');
    const name = setAsideName();
    s.setAside = { name, until: null, dropped: false };
    // An RDS rename takes minutes: the long options, heartbeating, safe to repeat from where it stopped.
    await onDb.long.switchDatabase.executeWithOptions({ ...LONG, summary: `Switch ${spec.database} to the restored copy` }, [db, input.id, name]);
    s.switchedAt = iso();
    event('switched', `The restored copy now serves as ${spec.database}; the original is kept as ${name}`);
  }

  async function resume(kind: 'quick' | 'converge'): Promise<void> {
    for (const [i, svc] of spec.services.entries()) {
      const capacity = s.services[i]?.capacity;
      if (!capacity) continue;
      await scaleTo(svc, capacity, kind, `Resume ${svc.service}`);
    }
  }

  async function resumeServices(): Promise<void> {
    if (drill) return;
    setPhase('resuming');
    await resume('quick');
    s.resumedAt = iso();
    const m = measured();
    event('resumed', `Services resumed${m.rtoSeconds !== null ? `: RTO ${formatDuration(m.rtoSeconds)}` : ''}${m.rpoSeconds !== null ? `, RPO ${formatDuration(m.rpoSeconds)}` : ''}`);
    thread.reply(`:arrow_forward: Services resumed. RTO ${m.rtoSeconds === null ? 'n/a' : formatDuration(m.rtoSeconds)}, RPO ${m.rpoSeconds === null ? 'unknown' : formatDuration(m.rpoSeconds)}`);
  }

  /** The colours of a service that run tasks (what it was resumed to). */
  const liveColours = (i: number): Colour[] => (['blue', 'green'] as Colour[]).filter((c) => (s.services[i].capacity?.[c] ?? 0) > 0);

  async function smokeTest(): Promise<void> {
    if (drill || spec.services.length === 0) return;
    setPhase('smoke_testing');
    for (const [i, svc] of spec.services.entries()) {
      for (const colour of liveColours(i)) {
        try {
          const r = await onRegion(svc.compute.region).quick.smokeTest.executeWithOptions({ ...QUICK, startToCloseTimeout: '30s', retry: { maximumAttempts: 3, initialInterval: '2s' }, summary: `Smoke-test ${svc.service} (${colour})` }, [svc.smokeTestUrls[colour]]);
          s.services[i].smoke = `passed: ${r.detail}`;
        } catch (err) {
          if (isCancellation(err)) throw err;
          s.services[i].smoke = `failed: ${causeMessage(err)}`;
          throw new Stop('rolled_back', 'rolled_back', `smoke test of ${svc.service} (${colour}) failed after the switch: ${causeMessage(err)}`);
        }
      }
      event('smoke_passed', `${svc.service} passed its smoke test`);
    }
  }

  async function watch(): Promise<void> {
    if (drill || spec.services.length === 0 || spec.watchSeconds <= 0) return;
    setPhase('watching');
    const started = now();
    const until = started + spec.watchSeconds * 1000;
    while (now() < until) {
      await sleep(watchSleepMs(started, spec.sampleSeconds * 1000, until, now()));
      for (const [i, svc] of spec.services.entries()) {
        for (const colour of liveColours(i)) {
          const at = iso();
          const measure = () => onRegion(svc.metrics.region).quick.measure.executeWithOptions({ ...QUICK, retry: { maximumAttempts: 3, initialInterval: '2s' }, summary: `Analyse ${svc.service} (${colour})` }, [svc.metrics, colour, spec.sampleSeconds, at]);
          const sample = await analyse(measure, svc.thresholds, { at, step: i, weight: 100, label: `${svc.service} ${colour}` });
          const watched = addWatchSample(s.samples, sample);
          s.samples = watched.samples;
          refresh();
          if (watched.failed) {
            throw new Stop('rolled_back', 'rolled_back', `${svc.service} unhealthy on the restored database: ${sample.message}`);
          }
        }
      }
    }
    event('watched', `Watched the services for ${formatDuration(spec.watchSeconds)}: healthy`);
  }

  async function retain(): Promise<void> {
    if (drill || !s.setAside) return;
    setPhase('retaining');
    const until = now() + spec.retentionSeconds * 1000;
    s.setAside = { ...s.setAside, until: iso(until) };
    thread.reply(`:large_green_circle: Restored and healthy. The original stays as ${s.setAside.name} until ${s.setAside.until}`);
    refresh();
    await sleep(spec.retentionSeconds * 1000);
    if (db.kind === 'rds' && db.switch.type === 'route53') {
      // The record now names the copy, but config still names the original's instance: dropping
      // it would leave config pointing at nothing. An operator updates config, then drops it.
      event('set_aside_kept', `Retention over; ${s.setAside.name} is kept: set the database's instanceId in config to ${s.copy?.name ?? 'the copy'}, then delete it`);
      return;
    }
    await onDb.quick.dropSetAside.executeWithOptions({ ...QUICK, summary: `Drop the set-aside original ${s.setAside.name}` }, [db, s.setAside.name]);
    s.setAside = { ...s.setAside, dropped: true };
    event('set_aside_dropped', `Dropped the original (${s.setAside.name}) after its retention`);
  }

  async function cleanUpDrill(): Promise<void> {
    if (!drill) return;
    setPhase('cleaning_up');
    await onDb.quick.dropRestoredCopy.executeWithOptions({ ...QUICK, summary: 'Drop the drill copy' }, [db, input.id]);
    s.cleanup.push(`dropped the drill copy ${s.copy?.name ?? ''}`.trim());
    event('cleaned_up', 'Dropped the drill copy');
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
   * Back to the original, whatever happened: if the copy serves, quiesce and switch back; drop
   * the copy; resume the services at the counts read before anything changed.
   */
  async function compensate(): Promise<boolean> {
    setPhase(drill ? 'cleaning_up' : 'compensating');
    let switchedBack = false;
    if (copyMayExist) {
      await untilDone('switching back to the original', async () => {
        const serving = await onDb.converge.databaseServing.executeWithOptions({ ...CONVERGE, summary: 'Which database serves?' }, [db, input.id]);
        if (serving.serving !== 'restored') return;
        for (const svc of spec.services) await scaleTo(svc, { blue: 0, green: 0 }, 'converge', `Quiesce ${svc.service} to switch back`);
        await onDb.converge.switchDatabaseBack.executeWithOptions({ ...CONVERGE, startToCloseTimeout: '2h', heartbeatTimeout: '30s', summary: 'Switch back to the original' }, [db, input.id, s.setAside?.name ?? setAsideName()]);
        switchedBack = true;
        s.switchedBackAt = iso();
        s.cleanup.push(`switched ${spec.database} back to the original`);
        event('switched_back', `Switched back: the original serves as ${spec.database} again`);
      });
      await untilDone('dropping the restored copy', async () => {
        await onDb.converge.dropRestoredCopy.executeWithOptions({ ...CONVERGE, summary: 'Drop the restored copy' }, [db, input.id]);
      });
      s.cleanup.push(`dropped the restored copy${s.copy ? ` ${s.copy.name}` : ''}`);
      event('copy_dropped', 'Dropped the restored copy');
    }
    if (s.services.some((x) => x.capacity !== null)) {
      await untilDone('resuming the services', () => resume('converge'));
      s.resumedAt ??= iso();
      s.cleanup.push('resumed the services on the original');
      event('resumed', 'Services resumed on the original database');
    }
    return switchedBack;
  }

  // ---------------------------------------------------------------- main
  upsertSearchAttributes([
    { key: BatonKind, value: 'restore' },
    { key: BatonService, value: spec.database },
    { key: BatonEnvironment, value: spec.environment },
    { key: BatonVersion, value: input.mode },
    { key: BatonPhase, value: s.phase },
  ]);
  event('started', `${title} requested by ${request.requestedBy}: ${request.reason}`);
  thread.reply(`:floppy_disk: ${title}, requested by ${request.requestedBy}: ${request.reason}`);

  await shield.run(async () => {
    try {
      await forward.run(async () => {
        await plan();
        await approve();
        await quiesce();
        await restoreCopy();
        await verify();
        if (!drill) {
          await switchOver();
          await resumeServices();
          await smokeTest();
          await watch();
        }
      });
    } catch (err) {
      const stop = err instanceof Stop ? err : null;
      const cancelled = !stop && cancelRequest !== null && isCancellation(err);
      const reason = stop ? stop.message : cancelled ? `cancelled by ${cancelRequest!.by}: ${cancelRequest!.reason}` : `error: ${causeMessage(err)}`;
      event(stop?.phase ?? (cancelled ? 'cancelled' : 'error'), reason);
      const switchedBack = await compensate();
      if (stop && ['rejected', 'expired'].includes(stop.outcome)) finish(stop.outcome, stop.phase, reason);
      else if (cancelled) finish('cancelled', 'cancelled', reason);
      else if (switchedBack) finish('rolled_back', 'rolled_back', reason);
      else finish(stop?.outcome === 'rolled_back' ? 'rolled_back' : 'failed', stop?.outcome === 'rolled_back' ? 'rolled_back' : 'failed', reason);
      thread.reply(`:x: ${title} ${s.outcome}: ${reason}${s.cleanup.length ? ` (${s.cleanup.join('; ')})` : ''}`);
      return;
    }
    // The restore holds: what follows keeps no one waiting and undoes nothing.
    await cleanUpDrill();
    if (!drill) {
      try {
        await forward.run(retain);
      } catch (err) {
        if (!isCancellation(err)) throw err;
        event('retention_ended', `Retention ended early by ${cancelRequest?.by ?? 'cancellation'}; the original stays as ${s.setAside?.name} (drop it by hand)`);
      }
    }
    finish('succeeded', 'completed', null);
    const m = measured();
    thread.reply(`:white_check_mark: ${title} succeeded. RPO ${m.rpoSeconds === null ? 'unknown' : formatDuration(m.rpoSeconds)}${drill ? '' : `, RTO ${m.rtoSeconds === null ? 'n/a' : formatDuration(m.rtoSeconds)}`}`);
  });

  await CancellationScope.nonCancellable(async () => {
    const { rpoSeconds, rtoSeconds } = measured();
    const duration = drill ? Math.round((Date.parse(s.endedAt!) - startedMs) / 1000) : rtoSeconds;
    const record: RunRecord = { id: input.id, mode: input.mode, at: s.endedAt!, outcome: s.outcome!, durationSeconds: duration, rpoSeconds, detail: s.error ?? 'ok' };
    try {
      await quick.recordDatabaseRun.executeWithOptions({ ...QUICK, summary: 'Record the run in the database ledger' }, [spec.database, spec.environment, record, workflowInfo().taskQueue]);
    } catch (err) {
      log.warn('could not record the run in the database ledger', { error: causeMessage(err) });
    }
    await thread.close(SLACK_CLOSE_MS);
    await condition(allHandlersFinished);
  });
  if (!TERMINAL.includes(s.phase)) throw new Error(`restore ended in non-terminal phase ${s.phase}`);
  keepFinalStatus(status());
  const { rpoSeconds, rtoSeconds } = measured();
  const result: RestoreResult = { id: input.id, outcome: s.outcome!, rpoSeconds, rtoSeconds, error: s.error };
  if (result.outcome === 'cancelled') throw new CancelledFailure(`${title} cancelled: ${s.error}`);
  if (result.outcome !== 'succeeded') {
    throw ApplicationFailure.create({ type: ErrorType.RestoreEnded, message: `${title} ${result.outcome}: ${s.error}`, nonRetryable: true, details: [result] });
  }
  return result;
}
