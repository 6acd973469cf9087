/**
 * A release: one version of one service promoted through the environments in order, each
 * behind a gate (checks, approvals, stability in the previous environment, freezes, the
 * environment's train, an expiry), each rollout a child deployment through its lane.
 *
 * Invariants:
 * - A gate's rules live in src/domain/gate-machine.ts (`stepGate`): this workflow feeds it facts
 *   (checks, approvals, freezes, the previous environment's deployment going live or being
 *   rolled back, a timer) and does what it says. Expiry counts only while a gate is open,
 *   unsatisfied and unfrozen: a satisfied gate waits for its train on any day of the week.
 * - Gates are durable: checks and approvals are Updates whose validators refuse what the
 *   rules forbid, so the history holds only accepted decisions (who, when, comment).
 * - The release moves on when an environment's deployment is LIVE (100 % verified), not when
 *   its tail ends. Stability counts from live, without interruption: a version rolled back or
 *   replaced there since restarts the clock.
 * - Boarding a train re-evaluates the gate at that moment (freezes, including those the train
 *   knows of, and checks); a gate that goes on without a train first re-reads the freezes.
 * - Everything a handler touches exists before any handler is registered: a cancel, check or
 *   approval in the run's first task acts like any other.
 * - Cancel (an Update, or cancelling the run) cancels the deployment in flight, which rolls
 *   back; environments already live stay live. An expiry or a rejection happens only at a
 *   gate, when no deployment of this release is progressing.
 * - Slack (thread.ts) is told, never waited for.
 * - Time-based decisions are taken against a clock that never runs behind the timer that woke
 *   the workflow, so a replay takes the same branch.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { decisionsOf } from './decisions';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { laneId } from '../src/domain/deployment';
import { ErrorType } from '../src/domain/errors';
import { formatDuration } from '../src/domain/durations';
import { appendEvent } from '../src/domain/timeline';
import { whyApprovalRefused } from '../src/domain/gates';
import { attestRefusal, cancelRefusal, MAX_CHECK_RESULTS } from '../src/domain/policy';
import { boardGate, newGateMachine, stepGate, whyNotBoarding, type GateFacts, type GateMachine, type GateStep } from '../src/domain/gate-machine';
import { formatInZone } from '../src/domain/calendar';
import { mergeFreezes, type ApprovalRecord, type CheckRecord, type Freeze } from '../src/domain/release';
import type { ApprovalCard, RunCard } from '../src/domain/notices';
import type { Outcome, TimelineEvent } from '../src/domain/types';
import { deploymentLane, type LaneResult } from './lane';
import { newThreadState, PARENT, runThread } from './thread';
import {
  BatonEnvironment,
  BatonKind,
  BatonOutcome,
  BatonPhase,
  BatonService,
  BatonVersion,
  deploymentMilestoneSignal,
  laneSearchAttributes,
  releaseApprovalUpdate,
  releaseCancelUpdate,
  releaseCheckUpdate,
  releaseDepartUpdate,
  releaseFreezesSignal,
  releaseStatusQuery,
  releaseTrainLeftSignal,
  trainReportSignal,
  type ApiFreezes,
  type TrainLeft,
  type ApprovalInput,
  type CancelInput,
  type CheckInput,
  type DeploymentMilestone,
  type DepartInput,
  type ReleaseInput,
  type ReleasePhase,
  type ReleaseStage,
  type ReleaseStatus,
  type StageStatus,
} from './messages';
import { keepFinalStatus } from './final-status';

interface StageState {
  gate: GateMachine;
  deploymentId: string | null;
  /** `succeeded` once live; else how the deployment ended without going live. */
  outcome: string | null;
  liveAt: string | null;
  /** Set when the version stopped being live there (rolled back after live, or replaced). */
  notLiveSince: string | null;
  reason: string | null;
  /** The train was told how this environment's deployment went. */
  reported: boolean;
}

const MAX_TIMELINE = 200;
/** How long the release waits for Slack before it ends (Slack may be down). */
const SLACK_CLOSE_MS = 30_000;
const OUTCOME_EMOJI: Record<Outcome, string> = {
  succeeded: ':tada:',
  rolled_back: ':leftwards_arrow_with_hook:',
  failed: ':x:',
  rejected: ':no_entry_sign:',
  expired: ':hourglass:',
  cancelled: ':no_entry:',
};
/** How long to wait before asking a busy lane again. */
const LANE_BUSY_RETRY = '1m';

const act = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumInterval: '10s', maximumAttempts: 5 } });

export async function release(input: ReleaseInput): Promise<{ id: string; outcome: Outcome; reason: string | null }> {
  const { request, stages } = input;
  const title = `Release ${request.service} ${request.version}${request.hotfix ? ' (hotfix)' : ''}`;
  // A clock that never runs behind the last timer that fired (see the header).
  let floorMs = 0;
  const clock = () => Math.max(Date.now(), floorMs);
  const iso = (ms = clock()) => new Date(ms).toISOString();

  // ---------------------------------------------------------------- state and scopes, before any handler
  const s = {
    stageIndex: 0,
    phase: 'gate_open' as ReleasePhase,
    outcome: null as Outcome | null,
    reason: null as string | null,
    startedAt: iso(),
    endedAt: null as string | null,
    checks: [] as CheckRecord[],
    approvals: [] as ApprovalRecord[],
    stages: stages.map<StageState>((st) => ({ gate: newGateMachine(st.gate), deploymentId: null, outcome: null, liveAt: null, notLiveSince: null, reason: null, reported: false })),
    timeline: [] as TimelineEvent[],
    cancelRequest: null as { reason: string; by: string } | null,
    apiFreezes: { freezes: [], revision: -1 } as ApiFreezes,
    /** Departures (ms) by environment whose train run has ended: they board no more. */
    trainsLeft: {} as Record<string, number[]>,
    slack: newThreadState(),
  };
  let changes = 0;
  const main = new CancellationScope();

  // ---------------------------------------------------------------- gates, status, UI
  /** The facts stage i's gate is judged on, now. `extraFreezes`: those a boarding train knows of. */
  function factsOf(i: number, extraFreezes: Freeze[] = []): GateFacts {
    const stage = stages[i];
    const previous = i > 0 ? s.stages[i - 1] : null;
    return {
      gate: stage.gate,
      environment: stage.environment,
      checks: s.checks,
      approvals: s.approvals,
      requestedBy: request.requestedBy,
      hotfix: request.hotfix,
      hotfixApprovalRole: input.hotfixApprovalRole,
      previousEnvironment: i > 0 ? stages[i - 1].environment : null,
      previousLiveSinceMs: previous?.liveAt && !previous.notLiveSince ? Date.parse(previous.liveAt) : null,
      freezes: mergeFreezes(input.freezes, s.apiFreezes.freezes, extraFreezes),
      train: stage.train,
      trainsLeft: stage.train ? (s.trainsLeft[stage.train.environment] ?? []) : [],
    };
  }

  /** Where stage i's gate stands now (pure: nothing is recorded). */
  function preview(i: number): GateStep {
    return stepGate(s.stages[i].gate, factsOf(i), clock());
  }

  function stageStatus(stage: ReleaseStage, i: number): StageStatus {
    const st = s.stages[i];
    const view = stage.gate && i === s.stageIndex && !s.outcome ? preview(i) : null;
    const m = view?.machine ?? st.gate;
    const p = view?.progress ?? null;
    const next = p?.nextDepartureMs ?? null;
    return {
      environment: stage.environment,
      gate: stage.gate
        ? {
            state: m.state,
            openedAt: m.openedAt === null ? null : iso(m.openedAt),
            expiresAt: p?.expiresAtMs != null ? iso(p.expiresAtMs) : null,
            expiryLeftSeconds: p?.expiryLeftSeconds ?? null,
            boarded: m.boarded ? { trainId: m.boarded.trainId, departure: m.boarded.departure, at: iso(m.boarded.at) } : null,
            checks: p?.checks ?? stage.gate.checks.map((name) => ({ name, status: 'missing' as const, url: null, at: null })),
            approvals: s.approvals.filter((a) => a.environment === stage.environment),
            pending: pendingOf(i, view),
            train: stage.train
              ? { environment: stage.train.environment, nextDeparture: next === null ? null : iso(next), nextDepartureLocal: next === null ? null : formatInZone(next, stage.train.timeZone) }
              : null,
          }
        : null,
      deployment: st.deploymentId ? { id: st.deploymentId, outcome: st.outcome, liveAt: st.liveAt, live: st.liveAt !== null && st.notLiveSince === null, reason: st.reason } : null,
    };
  }

  function pendingOf(i: number, view: GateStep | null): string[] {
    if (view) return view.pending;
    if (i > s.stageIndex && !s.outcome) return [`waiting for ${stages[i - 1].environment} to be live`];
    return [];
  }

  function status(): ReleaseStatus {
    return {
      id: input.id,
      kind: 'release',
      service: request.service,
      version: request.version,
      hotfix: request.hotfix,
      requestedBy: request.requestedBy,
      digest: request.digest ?? null,
      phase: s.phase,
      outcome: s.outcome,
      reason: s.reason,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      environment: s.outcome ? null : (stages[s.stageIndex]?.environment ?? null),
      environments: stages.map(stageStatus),
      checks: s.checks,
      timeline: s.timeline.slice(-50),
    };
  }

  function refreshDetails(): void {
    const lines = [`**${title}** — phase \`${s.phase}\`${s.outcome ? `, outcome **${s.outcome.toUpperCase()}**` : ''}`];
    stages.forEach((stage, i) => {
      const st = s.stages[i];
      const dep = st.deploymentId ? ` · ${st.deploymentId}${st.outcome ? ` (${st.outcome === 'succeeded' ? (st.notLiveSince ? 'no longer live' : 'live') : st.outcome})` : ''}` : '';
      lines.push(`- ${stage.environment}: gate ${stage.gate ? st.gate.state : 'none'}${dep}`);
      if (i === s.stageIndex && !s.outcome && stage.gate) for (const p of preview(i).pending) lines.push(`  - ${p}`);
    });
    if (s.reason) lines.push(`- ${s.reason}`);
    setCurrentDetails(lines.join('\n'));
  }

  function event(type: string, message: string): void {
    appendEvent(s.timeline, { at: iso(), type, message }, MAX_TIMELINE);
    log.info(message, { type });
    refreshDetails();
    thread.touch();
    const gated = stages[s.stageIndex];
    if (gated?.gate) thread.touch(gateKey(gated.environment));
  }

  // ---------------------------------------------------------------- Slack
  const gateKey = (environment: string) => `gate:${environment}`;

  /** The release's Slack message: every environment, what each waits for, the outcome. */
  function runCard(): RunCard {
    const live = s.stages.filter((st) => st.outcome === 'succeeded').length;
    const i = s.stageIndex;
    const gate = stages[i]?.gate;
    const m = s.stages[i]?.gate;
    const prevLive = i > 0 ? s.stages[i - 1].liveAt : null;
    const stabilityLeft = !s.outcome && gate && m?.state === 'waiting' && prevLive && !request.hotfix ? Date.parse(prevLive) + gate.stabilitySeconds * 1000 - clock() : 0;
    return {
      kind: 'release',
      id: input.id,
      title,
      requestedBy: request.requestedBy,
      phase: s.phase,
      outcome: s.outcome,
      progress: { percent: Math.round((live * 100) / stages.length), label: `${live} of ${stages.length} environments live` },
      countdown:
        stabilityLeft > 0 && gate
          ? { label: `Stability in ${stages[i - 1].environment}`, remainingSeconds: Math.ceil(stabilityLeft / 1000), totalSeconds: gate.stabilitySeconds, paused: false }
          : null,
      lines: stages.map((stage, k) => `${stage.environment}: ${stageLine(k)}`),
      note: s.outcome && s.outcome !== 'succeeded' ? s.reason : null,
    };
  }

  function stageLine(i: number): string {
    const st = s.stages[i];
    if (st.deploymentId) {
      const state = st.outcome === 'succeeded' ? (st.notLiveSince ? 'no longer live' : 'live') : (st.outcome?.replace('_', ' ') ?? 'deploying');
      return `${state} (${st.deploymentId})`;
    }
    if (i > s.stageIndex || (s.outcome && st.gate.state === 'waiting')) return stages[i].gate ? 'gate ahead' : 'no gate';
    const pending = pendingOf(i, stages[i].gate && !s.outcome ? preview(i) : null);
    return `gate ${st.gate.state.replace(/_/g, ' ')}${pending.length ? ` — ${pending.join('; ')}` : ''}`;
  }

  /** A gate's approval request, as its thread reply shows it. */
  function approvalCard(environment: string): ApprovalCard {
    const i = stages.findIndex((st) => st.environment === environment);
    const view = s.outcome ? null : preview(i);
    const m = view?.machine ?? s.stages[i].gate;
    const rules = view?.progress?.approvals ?? [];
    const required = rules.reduce((n, r) => n + r.rule.count, 0);
    const given = rules.reduce((n, r) => n + r.rule.count - r.missing, 0);
    const state: ApprovalCard['state'] =
      m.state === 'rejected' ? 'rejected'
      : m.state === 'expired' ? 'expired'
      : (required > 0 && given >= required) || m.state === 'satisfied' || m.state === 'departed' ? 'satisfied'
      : ended() ? 'closed'
      : 'open';
    const expiresAtMs = view?.progress?.expiresAtMs ?? null;
    return {
      kind: 'approval',
      releaseId: input.id,
      releaseTitle: title,
      environment,
      state,
      approvals: s.approvals.filter((a) => a.environment === environment).map((a) => ({ by: a.by, decision: a.decision, comment: a.comment })),
      given,
      required,
      pending: state === 'open' ? (view?.pending ?? []) : [],
      expiresAt: expiresAtMs === null ? null : iso(expiresAtMs),
    };
  }

  const thread = runThread({
    state: s.slack,
    notify: input.notify,
    runId: input.id,
    card: (key) => (key === PARENT ? runCard() : approvalCard(key.slice(gateKey('').length))),
  });

  function setPhase(phase: ReleasePhase): void {
    if (s.phase === phase) return;
    s.phase = phase;
    upsertSearchAttributes([
      { key: BatonPhase, value: phase },
      { key: BatonEnvironment, value: stages[s.stageIndex]?.environment ?? stages[stages.length - 1].environment },
    ]);
    refreshDetails();
  }

  function finish(outcome: Outcome, phase: ReleasePhase, reason: string | null): void {
    s.outcome = outcome;
    s.reason = reason;
    s.endedAt = iso();
    setPhase(phase);
    upsertSearchAttributes([{ key: BatonOutcome, value: outcome }]);
    event(outcome, `${title}: ${outcome}${reason ? ` — ${reason}` : ''}`);
    thread.reply(`${OUTCOME_EMOJI[outcome]} ${title}: ${outcome.replace('_', ' ')}${reason ? ` — ${reason}` : ''}`);
    for (const stage of stages) if (stage.gate) thread.touch(gateKey(stage.environment), true);
    thread.touch(PARENT, true);
  }

  function refuse(message: string, type: string = ErrorType.InvalidTransition, statusCode = 409): never {
    throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [{ status: statusCode }] });
  }

  function ended(): boolean {
    return s.outcome !== null || s.cancelRequest !== null;
  }

  // Decisions: see workflows/decisions.ts.
  const { decider, holderOf, spend } = decisionsOf(input, 'release');

  // ---------------------------------------------------------------- handlers (state and scopes exist)
  setHandler(releaseStatusQuery, status);

  setHandler(
    releaseCheckUpdate,
    (c: CheckInput) => {
      spend(c);
      s.checks.push({ name: c.name, status: c.status, url: c.url ?? null, by: c.by, at: iso() });
      event(`check_${c.status}`, `Check '${c.name}' ${c.status} (posted by ${c.by})${c.url ? `: ${c.url}` : ''}`);
      changes++;
      return status();
    },
    {
      validator: (c: CheckInput) => {
        const who = decider('check', c);
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(c.name)) refuse(`check name '${c.name}' must be lower-case letters, digits, '.', '_' or '-'`, ErrorType.InvalidTransition, 400);
        if (input.checkRules) {
          const rule = Object.hasOwn(input.checkRules.named, c.name) ? input.checkRules.named[c.name] : input.checkRules.default;
          const required = stages.some((st) => st.gate?.checks.includes(c.name) ?? false);
          const why = attestRefusal(rule, who, { name: c.name, requestedBy: request.requestedBy, required });
          if (why) refuse(why.message, ErrorType.DecisionRefused, why.status);
        }
        if (s.checks.length >= MAX_CHECK_RESULTS) refuse(`this release holds ${MAX_CHECK_RESULTS} check results already; it takes no more`);
      },
    },
  );

  setHandler(
    releaseApprovalUpdate,
    (d: ApprovalInput) => {
      spend(d);
      const a = { ...d, roles: holderOf(d)?.roles ?? [] };
      s.approvals.push({ environment: a.environment, decision: a.decision, by: a.by, roles: a.roles, comment: a.comment ?? null, at: iso() });
      const said = a.decision === 'reject' ? 'rejected' : `(${a.roles.join(', ')}) approved`;
      event(a.decision === 'reject' ? 'rejected_by' : 'approved', `${a.by} ${said} ${a.environment}${a.comment ? `: ${a.comment}` : ''}`);
      thread.reply(`${a.decision === 'reject' ? ':no_entry_sign:' : ':white_check_mark:'} ${a.by} ${said} ${a.environment}${a.comment ? `: ${a.comment}` : ''}`);
      thread.touch(gateKey(a.environment), true);
      changes++;
      return status();
    },
    {
      validator: (d: ApprovalInput) => {
        const a = { ...d, roles: decider('approval', d).roles };
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        const i = stages.findIndex((st) => st.environment === a.environment);
        if (i < 0) refuse(`environment '${a.environment}' is not part of this release`, ErrorType.ApprovalRefused, 409);
        if (i < s.stageIndex) refuse(`gate '${a.environment}' was passed already; it takes no more decisions`, ErrorType.ApprovalRefused, 409);
        // The gate as it stands at this moment (an expiry timer may not have fired yet).
        const view = i === s.stageIndex ? preview(i) : null;
        const m = view?.machine ?? s.stages[i].gate;
        const why = whyApprovalRefused(
          { environment: a.environment, decision: a.decision, by: a.by, roles: a.roles },
          {
            gate: stages[i].gate,
            gateState: m.state,
            requestedBy: request.requestedBy,
            approvals: s.approvals,
            nowMs: clock(),
            expiryLeftMs: view?.progress?.expiryLeftSeconds != null ? (view.progress.expired ? 0 : view.progress.expiryLeftSeconds * 1000) : null,
            hotfix: request.hotfix,
            hotfixApprovalRole: input.hotfixApprovalRole,
          },
        );
        if (why) refuse(why.message, ErrorType.ApprovalRefused, why.status);
      },
    },
  );

  setHandler(
    releaseDepartUpdate,
    (d: DepartInput) => {
      const i = s.stageIndex;
      s.stages[i].gate = boardGate(s.stages[i].gate, clock(), d.trainId, d.departure);
      event('departed', `Boarded the ${d.environment} train of ${d.departure} (${d.trainId})`);
      changes++;
      return status();
    },
    {
      validator: (d: DepartInput) => {
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        // Readiness is decided now, with every freeze known here or to the train.
        const why = whyNotBoarding(s.stages[s.stageIndex].gate, factsOf(s.stageIndex, d.freezes ?? []), clock(), d.environment);
        if (why) refuse(why);
      },
    },
  );

  setHandler(
    releaseCancelUpdate,
    (c: CancelInput) => {
      spend(c);
      s.cancelRequest = { reason: c.reason, by: c.by };
      event('cancel_requested', `Cancel requested by ${c.by}: ${c.reason}`);
      main.cancel();
      changes++;
      return status();
    },
    {
      validator: (c: CancelInput) => {
        const who = decider('cancel', c);
        if (input.cancelRoles) {
          const why = cancelRefusal(input.cancelRoles, who, request.requestedBy, 'release');
          if (why) refuse(why.message, ErrorType.DecisionRefused, why.status);
        }
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        if (!c.reason?.trim()) refuse('reason: say why the release is cancelled', ErrorType.InvalidTransition, 400);
      },
    },
  );

  setHandler(releaseFreezesSignal, (f: ApiFreezes) => {
    if (f.revision <= s.apiFreezes.revision) return;
    s.apiFreezes = f;
    changes++;
  });

  setHandler(releaseTrainLeftSignal, (t: TrainLeft) => {
    const ms = Date.parse(t.departure);
    const left = (s.trainsLeft[t.environment] ??= []);
    if (Number.isNaN(ms) || left.includes(ms)) return;
    left.push(ms);
    if (left.length > 10) left.shift();
    changes++;
  });

  setHandler(deploymentMilestoneSignal, (m: DeploymentMilestone) => {
    const i = s.stages.findIndex((st) => st.deploymentId === m.deploymentId);
    if (i < 0) return;
    const st = s.stages[i];
    if (m.milestone === 'live' && st.liveAt === null && st.notLiveSince === null) {
      st.liveAt = m.liveAt;
    } else if (m.milestone === 'ended' && !m.stillLive && st.liveAt !== null && st.notLiveSince === null) {
      st.notLiveSince = m.at;
      const why = m.handedOverTo ? `replaced by ${m.handedOverTo}` : `${m.outcome?.replace('_', ' ') ?? 'ended'}${m.reason ? `: ${m.reason}` : ''}`;
      event('no_longer_live', `${request.version} is no longer live in ${stages[i].environment} (${why})`);
      thread.reply(`:warning: ${request.version} is no longer live in ${stages[i].environment} (${why})`);
    }
    changes++;
  });

  // ---------------------------------------------------------------- waits
  /** Waits for a handler to act or until `atMs`; a fired timer moves the clock to `atMs`. */
  async function waitForChangeOr(atMs: number | null, summary: string): Promise<void> {
    const seen = changes;
    if (atMs === null) {
      await condition(() => changes !== seen);
      return;
    }
    const acted = await condition(() => changes !== seen, Math.max(1, atMs - clock()), { summary });
    if (!acted) floorMs = Math.max(floorMs, atMs);
  }

  /** Reads the freezes declared through the API (a release started after the last broadcast). */
  async function refreshFreezes(): Promise<void> {
    try {
      const current = await act.currentFreezes();
      const api = current.freezes.filter((f) => f.source === 'api');
      if (current.revision > s.apiFreezes.revision) s.apiFreezes = { freezes: api, revision: current.revision };
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('could not read the freezes declared through the API; going on with those known', { error: String(err) });
    }
  }

  /** Tells the train this release boarded how its deployment went (once). */
  async function reportToTrain(i: number, state: 'live' | 'failed', message: string): Promise<void> {
    const st = s.stages[i];
    const train = st.gate.boarded?.trainId;
    if (!train || st.reported) return;
    st.reported = true;
    try {
      await getExternalWorkflowHandle(train).signal(trainReportSignal, { releaseId: input.id, state, message });
    } catch (err) {
      log.info('the train has left (it was not told)', { train, error: String(err) });
    }
  }

  // ---------------------------------------------------------------- the gate
  /** Returns when the gate lets the release into stage i (or throws GateClosed). */
  async function passGate(i: number): Promise<void> {
    const stage = stages[i];
    const st = s.stages[i];
    /** Departures already asked whether their train has left. */
    const asked = new Set<number>();
    for (;;) {
      const step = stepGate(st.gate, factsOf(i), clock());
      // Ready while a departure's window is open: is its train still boarding, or has it left?
      const boarding = step.progress?.nextDepartureMs ?? null;
      if (stage.train && step.machine.state === 'satisfied' && boarding !== null && boarding <= clock() && !asked.has(boarding)) {
        asked.add(boarding);
        if (await act.trainHasLeft(stage.train.environment, boarding)) {
          (s.trainsLeft[stage.train.environment] ??= []).push(boarding);
          continue;
        }
      }
      const opened = step.machine.state !== 'waiting' && st.gate.state === 'waiting' && step.machine.openedAt !== null;
      st.gate = step.machine;
      for (const e of step.events) event(e.type, e.message);
      if (opened && step.events.some((e) => e.type === 'gate_open')) {
        thread.reply(`:vertical_traffic_light: ${step.events.find((e) => e.type === 'gate_open')?.message ?? `Gate to ${stage.environment} open`}`);
        if (stage.gate && stage.gate.approvals.length > 0) thread.open(gateKey(stage.environment));
      }
      if (st.gate.state === 'rejected') {
        const r = s.approvals.find((a) => a.environment === stage.environment && a.decision === 'reject');
        throw new GateClosed('rejected', `rejected for ${stage.environment} by ${r?.by ?? 'someone'}${r?.comment ? `: ${r.comment}` : ''}`);
      }
      if (st.gate.state === 'expired') throw new GateClosed('expired', `the gate to ${stage.environment} was not satisfied within ${formatDuration(stage.gate?.expirySeconds ?? 0)} of open, unfrozen time`);
      setPhase(st.gate.state === 'satisfied' && stage.train && !step.progress?.frozen ? 'waiting_for_train' : 'gate_open');
      if (step.proceed) {
        if (st.gate.state === 'departed') return; // boarding already re-evaluated everything, with the train's freezes
        // A freeze declared a moment ago must stop this too: read them again, then decide.
        await refreshFreezes();
        const again = stepGate(st.gate, factsOf(i), clock());
        if (again.proceed) return;
        continue;
      }
      refreshDetails();
      await waitForChangeOr(step.wakeAt, `Gate to ${stage.environment}`);
    }
  }

  /** Deploys stage i through its lane, waiting while another deployment holds the lane. */
  async function deploy(i: number): Promise<LaneResult> {
    const stage = stages[i];
    const spec = stage.deployment;
    const st = s.stages[i];
    setPhase('deploying');
    for (;;) {
      try {
        const lane = await startChild(deploymentLane, {
          workflowId: laneId(spec.service, spec.environment),
          args: [{ spec, owner: input.id }],
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          staticSummary: `Lane for ${spec.service} in ${spec.environment}: ${spec.id} (${input.id})`,
          typedSearchAttributes: laneSearchAttributes(spec),
        });
        st.deploymentId = spec.id;
        event('deploying', `Deploying ${spec.version} to ${stage.environment} (${spec.id})`);
        thread.reply(`:rocket: Deploying ${spec.version} to ${stage.environment} (${spec.id})`);
        try {
          return await lane.result();
        } catch (err) {
          if (isCancellation(err)) {
            // The lane cancelled its deployment, which restored the previous colour before it ended.
            st.outcome = 'cancelled';
            st.reason = `cancelled with the release; ${spec.id} restored a safe state before it ended`;
            event('deployment_cancelled', `The deployment to ${stage.environment} was cancelled with the release`);
          }
          throw err;
        }
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        event('lane_busy', `${spec.service} is already deploying to ${stage.environment}; trying again in ${LANE_BUSY_RETRY}`);
        await sleep(LANE_BUSY_RETRY);
      }
    }
  }

  // ---------------------------------------------------------------- main
  upsertSearchAttributes([
    { key: BatonKind, value: 'release' },
    { key: BatonService, value: request.service },
    { key: BatonVersion, value: request.version },
  ]);
  setPhase('gate_open');
  event('started', `${title} requested by ${request.requestedBy}: ${stages.map((st) => st.environment).join(' → ')}`);

  try {
    await main.run(async () => {
      await refreshFreezes();
      for (; s.stageIndex < stages.length; s.stageIndex++) {
        const i = s.stageIndex;
        await passGate(i);
        const result = await deploy(i);
        const st = s.stages[i];
        if (result.outcome !== 'live' && result.outcome !== 'succeeded') {
          Object.assign(st, { outcome: result.outcome, reason: result.reason });
          await reportToTrain(i, 'failed', `${result.outcome.replace('_', ' ')}: ${result.reason ?? ''}`);
          throw new GateClosed(result.outcome === 'rolled_back' ? 'rolled_back' : 'failed', `the deployment to ${stages[i].environment} ${result.outcome.replace('_', ' ')}: ${result.reason ?? ''}`);
        }
        st.outcome = 'succeeded';
        st.liveAt ??= result.liveAt;
        event('live', `${request.version} is live in ${stages[i].environment}`);
        thread.reply(`:white_check_mark: ${request.version} is live in ${stages[i].environment}`);
        await reportToTrain(i, 'live', `${request.version} is live in ${stages[i].environment}`);
      }
    });
    s.stageIndex = stages.length - 1;
    finish('succeeded', 'completed', null);
  } catch (err) {
    s.stageIndex = Math.min(s.stageIndex, stages.length - 1);
    if (err instanceof GateClosed) {
      finish(err.outcome, err.outcome as ReleasePhase, err.message);
    } else if (isCancellation(err)) {
      const why = s.cancelRequest ? `cancelled by ${s.cancelRequest.by}: ${s.cancelRequest.reason}` : 'the release was cancelled';
      finish('cancelled', 'cancelled', why);
    } else {
      finish('failed', 'failed', String((err as Error)?.message ?? err));
    }
  }
  await CancellationScope.nonCancellable(async () => {
    await reportToTrain(s.stageIndex, 'failed', s.reason ?? s.outcome ?? 'ended');
    await thread.close(SLACK_CLOSE_MS);
    await condition(allHandlersFinished);
  });
  keepFinalStatus(status());
  if (s.outcome !== 'succeeded') {
    // The run ends failed so the Temporal UI shows it for what it is; the status query keeps the details.
    throw ApplicationFailure.create({ type: ErrorType.ReleaseEnded, message: `${title} ${s.outcome}: ${s.reason ?? ''}`, nonRetryable: true });
  }
  return { id: input.id, outcome: 'succeeded', reason: null };
}

class GateClosed extends Error {
  constructor(
    readonly outcome: 'rejected' | 'expired' | 'rolled_back' | 'failed',
    message: string,
  ) {
    super(message);
  }
}
