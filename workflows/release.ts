/**
 * A release: one version of one service promoted through the environments in order, each
 * behind a gate (checks, approvals, stability in the previous environment, freezes, the
 * environment's train, an expiry), each rollout a child deployment through its lane.
 *
 * Invariants:
 * - Gates are durable: checks and approvals are Updates whose validators refuse what the
 *   rules forbid, so the history holds only accepted decisions (who, when, comment).
 * - Only what passed the previous environment moves on: a stage starts only after the
 *   previous stage's deployment succeeded.
 * - Time-based decisions (expiry, stability, freeze end) are taken against a clock that never
 *   runs behind the timer that woke the workflow, so a replay takes the same branch.
 * - Cancel (an Update, or cancelling the run) cancels the deployment in flight, which rolls
 *   back; nothing half-deployed is left. An expiry or a rejection happens only at a gate,
 *   when no deployment is running.
 * - Slack (thread.ts) is told, never waited for: a gate with approvals gets an approval request
 *   with buttons in the release's thread, kept current whichever way decisions arrive.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { laneId } from '../src/domain/deployment';
import { ErrorType } from '../src/domain/errors';
import { formatDuration } from '../src/domain/durations';
import { appendEvent } from '../src/domain/timeline';
import { gateProgress, whyApprovalRefused, type GateProgress } from '../src/domain/gates';
import { currentDeparture, formatInZone } from '../src/domain/calendar';
import type { ApprovalRecord, CheckRecord, GateState } from '../src/domain/release';
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
  laneSearchAttributes,
  releaseApprovalUpdate,
  releaseCancelUpdate,
  releaseCheckUpdate,
  releaseDepartUpdate,
  releaseStatusQuery,
  type ApprovalInput,
  type CancelInput,
  type CheckInput,
  type DepartInput,
  type ReleaseInput,
  type ReleasePhase,
  type ReleaseStage,
  type ReleaseStatus,
  type StageStatus,
} from './messages';

interface StageState {
  gateState: GateState;
  openedAtMs: number | null;
  deploymentId: string | null;
  outcome: string | null;
  liveAt: string | null;
  reason: string | null;
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

export async function release(input: ReleaseInput): Promise<{ id: string; outcome: Outcome; reason: string | null }> {
  const { request, stages } = input;
  const title = `Release ${request.service} ${request.version}${request.hotfix ? ' (hotfix)' : ''}`;
  // A clock that never runs behind the last timer that fired (see the header).
  let floorMs = 0;
  const clock = () => Math.max(Date.now(), floorMs);
  const iso = (ms = clock()) => new Date(ms).toISOString();

  const s = {
    stageIndex: 0,
    phase: 'gate_open' as ReleasePhase,
    outcome: null as Outcome | null,
    reason: null as string | null,
    startedAt: iso(),
    endedAt: null as string | null,
    checks: [] as CheckRecord[],
    approvals: [] as ApprovalRecord[],
    stages: stages.map<StageState>(() => ({ gateState: 'waiting', openedAtMs: null, deploymentId: null, outcome: null, liveAt: null, reason: null })),
    timeline: [] as TimelineEvent[],
    cancelRequest: null as { reason: string; by: string } | null,
    rejection: null as { environment: string; by: string; comment: string | null } | null,
    slack: newThreadState(),
  };
  let changes = 0;
  let main: CancellationScope | null = null;

  // ---------------------------------------------------------------- gates, status, UI
  function progressOf(i: number): GateProgress | null {
    const stage = stages[i];
    const st = s.stages[i];
    if (!stage.gate) return null;
    const previous = i > 0 ? s.stages[i - 1] : null;
    return gateProgress(stage.gate, {
      environment: stage.environment,
      nowMs: clock(),
      // A gate not open yet shows what it will ask for, as if it opened now.
      openedAtMs: st.openedAtMs ?? clock(),
      checks: s.checks,
      approvals: s.approvals,
      requestedBy: request.requestedBy,
      hotfix: request.hotfix,
      hotfixApprovalRole: input.hotfixApprovalRole,
      previousLiveSinceMs: previous?.liveAt ? Date.parse(previous.liveAt) : null,
      previousEnvironment: i > 0 ? stages[i - 1].environment : null,
      freezes: input.freezes,
      train: stage.train,
    });
  }

  function stageStatus(stage: ReleaseStage, i: number): StageStatus {
    const st = s.stages[i];
    const p = progressOf(i);
    const next = p?.nextDepartureMs ?? null;
    return {
      environment: stage.environment,
      gate: stage.gate
        ? {
            state: st.gateState,
            openedAt: st.openedAtMs === null ? null : iso(st.openedAtMs),
            expiresAt: p && st.openedAtMs !== null ? iso(p.expiresAtMs) : null,
            checks: p?.checks ?? stage.gate.checks.map((name) => ({ name, status: 'missing' as const, url: null, at: null })),
            approvals: s.approvals.filter((a) => a.environment === stage.environment),
            pending: pendingOf(i, p),
            train: stage.train
              ? { environment: stage.train.environment, nextDeparture: next === null ? null : iso(next), nextDepartureLocal: next === null ? null : formatInZone(next, stage.train.timeZone) }
              : null,
          }
        : null,
      deployment: st.deploymentId ? { id: st.deploymentId, outcome: st.outcome, liveAt: st.liveAt, reason: st.reason } : null,
    };
  }

  function pendingOf(i: number, p: GateProgress | null): string[] {
    const st = s.stages[i];
    if (st.gateState === 'open' || st.gateState === 'satisfied') return p?.pending ?? [];
    const end = stabilityEndMs(i);
    if (st.gateState === 'waiting' && end !== null) {
      return [`waiting for ${formatDuration(Math.max(0, end - clock()) / 1000)} of stability in ${stages[i - 1].environment}; the gate opens then`];
    }
    if (st.gateState === 'waiting' && i > 0 && !s.outcome) return [`waiting for ${stages[i - 1].environment} to be deployed`];
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
      const dep = st.deploymentId ? ` · ${st.deploymentId}${st.outcome ? ` (${st.outcome})` : ''}` : '';
      lines.push(`- ${stage.environment}: gate ${stage.gate ? st.gateState : 'none'}${dep}`);
      if (i === s.stageIndex && !s.outcome) for (const p of pendingOf(i, progressOf(i))) lines.push(`  - ${p}`);
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
    const done = s.stages.filter((st) => st.outcome === 'succeeded').length;
    const end = s.outcome ? null : stabilityEndMs(s.stageIndex);
    const waiting = end !== null && s.stages[s.stageIndex].gateState === 'waiting' ? end - clock() : 0;
    const gate = stages[s.stageIndex]?.gate;
    return {
      kind: 'release',
      id: input.id,
      title,
      requestedBy: request.requestedBy,
      phase: s.phase,
      outcome: s.outcome,
      progress: { percent: Math.round((done * 100) / stages.length), label: `${done} of ${stages.length} environments live` },
      countdown:
        waiting > 0 && gate
          ? { label: `Stability in ${stages[s.stageIndex - 1].environment}`, remainingSeconds: Math.ceil(waiting / 1000), totalSeconds: gate.stabilitySeconds, paused: false }
          : null,
      lines: stages.map((stage, i) => `${stage.environment}: ${stageLine(i)}`),
      note: s.outcome && s.outcome !== 'succeeded' ? s.reason : null,
    };
  }

  function stageLine(i: number): string {
    const st = s.stages[i];
    if (st.deploymentId) return `${st.outcome ? st.outcome.replace('_', ' ') : 'deploying'} (${st.deploymentId})`;
    if (i > s.stageIndex || (s.outcome && st.gateState === 'waiting')) return stages[i].gate ? 'gate ahead' : 'no gate';
    const pending = pendingOf(i, progressOf(i));
    return `gate ${st.gateState.replace(/_/g, ' ')}${pending.length ? ` — ${pending.join('; ')}` : ''}`;
  }

  /** A gate's approval request, as its thread reply shows it. */
  function approvalCard(environment: string): ApprovalCard {
    const i = stages.findIndex((st) => st.environment === environment);
    const st = s.stages[i];
    const p = progressOf(i);
    const rules = p?.approvals ?? [];
    const required = rules.reduce((n, r) => n + r.rule.count, 0);
    const given = rules.reduce((n, r) => n + r.rule.count - r.missing, 0);
    const state: ApprovalCard['state'] =
      st.gateState === 'rejected' ? 'rejected'
      : st.gateState === 'expired' ? 'expired'
      : given >= required || st.gateState === 'satisfied' || st.gateState === 'departed' ? 'satisfied'
      : ended() ? 'closed'
      : 'open';
    return {
      kind: 'approval',
      releaseId: input.id,
      releaseTitle: title,
      environment,
      state,
      approvals: s.approvals.filter((a) => a.environment === environment).map((a) => ({ by: a.by, decision: a.decision, comment: a.comment })),
      given,
      required,
      pending: state === 'open' ? (p?.pending ?? []) : [],
      expiresAt: p && st.openedAtMs !== null ? iso(p.expiresAtMs) : null,
    };
  }

  const thread = runThread({
    state: s.slack,
    notify: input.notify,
    runId: input.id,
    card: (key) => (key === PARENT ? runCard() : approvalCard(key.slice(gateKey('').length))),
  });

  function setPhase(phase: ReleasePhase): void {
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

  // ---------------------------------------------------------------- handlers
  setHandler(releaseStatusQuery, status);

  setHandler(
    releaseCheckUpdate,
    (c: CheckInput) => {
      s.checks.push({ name: c.name, status: c.status, url: c.url ?? null, by: c.by, at: iso() });
      event(`check_${c.status}`, `Check '${c.name}' ${c.status} (posted by ${c.by})${c.url ? `: ${c.url}` : ''}`);
      changes++;
      return status();
    },
    {
      validator: (c: CheckInput) => {
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(c.name)) refuse(`check name '${c.name}' must be lower-case letters, digits, '.', '_' or '-'`, ErrorType.InvalidTransition, 400);
      },
    },
  );

  setHandler(
    releaseApprovalUpdate,
    (a: ApprovalInput) => {
      s.approvals.push({ environment: a.environment, decision: a.decision, by: a.by, roles: a.roles, comment: a.comment ?? null, at: iso() });
      if (a.decision === 'reject') {
        s.rejection = { environment: a.environment, by: a.by, comment: a.comment ?? null };
        event('rejected', `${a.by} rejected ${a.environment}${a.comment ? `: ${a.comment}` : ''}`);
        thread.reply(`:no_entry_sign: ${a.by} rejected ${a.environment}${a.comment ? `: ${a.comment}` : ''}`);
      } else {
        event('approved', `${a.by} (${a.roles.join(', ')}) approved ${a.environment}${a.comment ? `: ${a.comment}` : ''}`);
        thread.reply(`:white_check_mark: ${a.by} (${a.roles.join(', ')}) approved ${a.environment}${a.comment ? `: ${a.comment}` : ''}`);
      }
      thread.touch(gateKey(a.environment), true);
      changes++;
      return status();
    },
    {
      validator: (a: ApprovalInput) => {
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        const i = stages.findIndex((st) => st.environment === a.environment);
        if (i < 0) refuse(`environment '${a.environment}' is not part of this release`, ErrorType.ApprovalRefused, 409);
        const p = progressOf(i);
        const why = whyApprovalRefused(
          { environment: a.environment, decision: a.decision, by: a.by, roles: a.roles },
          {
            gate: stages[i].gate,
            gateState: s.stages[i].gateState,
            requestedBy: request.requestedBy,
            approvals: s.approvals,
            nowMs: clock(),
            expiresAtMs: p?.expiresAtMs ?? null,
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
      s.stages[i].gateState = 'departed';
      event('departed', `Boarded the ${d.environment} train of ${d.departure}`);
      changes++;
      return status();
    },
    {
      validator: (d: DepartInput) => {
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        const stage = stages[s.stageIndex];
        if (stage.environment !== d.environment || !stage.train) refuse(`the release is not waiting for the ${d.environment} train`);
        if (s.stages[s.stageIndex].gateState !== 'satisfied') {
          const pending = progressOf(s.stageIndex)?.pending.join('; ') ?? 'gate not open';
          refuse(`not ready for the ${d.environment} train: ${pending}`);
        }
      },
    },
  );

  setHandler(
    releaseCancelUpdate,
    (c: CancelInput) => {
      s.cancelRequest = { reason: c.reason, by: c.by };
      event('cancel_requested', `Cancel requested by ${c.by}: ${c.reason}`);
      main?.cancel();
      changes++;
      return status();
    },
    {
      validator: (c: CancelInput) => {
        if (ended()) refuse(`the release has ended (${s.outcome ?? 'cancelling'})`);
        if (!c.reason?.trim()) refuse('reason: say why the release is cancelled', ErrorType.InvalidTransition, 400);
      },
    },
  );

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

  /** The earliest instant at which the gate's answer can change without anyone acting. */
  function nextTimeEvent(p: GateProgress): number {
    const candidates = [p.expiresAtMs];
    if (p.stabilityRemainingSeconds > 0) candidates.push(clock() + p.stabilityRemainingSeconds * 1000);
    if (p.frozen) candidates.push(Date.parse(p.frozen.to));
    return Math.min(...candidates);
  }

  /** When stage i's gate opens: after the stability the previous environment owes (hotfixes: at once). */
  function stabilityEndMs(i: number): number | null {
    const gate = stages[i].gate;
    const liveAt = i > 0 ? s.stages[i - 1].liveAt : null;
    if (!gate || gate.stabilitySeconds <= 0 || !liveAt || request.hotfix) return null;
    return Date.parse(liveAt) + gate.stabilitySeconds * 1000;
  }

  /**
   * A gate with a stability requirement opens (and its expiry starts) only once the version has
   * been live that long in the previous environment: a week of staging must not eat a 72-hour
   * approval window. A hotfix's gate opens at once, so the hotfix role can waive the wait.
   */
  async function awaitStability(i: number): Promise<void> {
    const end = stabilityEndMs(i);
    if (end === null || clock() >= end) return;
    s.stages[i].gateState = 'waiting';
    setPhase('gate_open');
    event('stabilizing', `Waiting for ${formatDuration((end - clock()) / 1000)} of stability in ${stages[i - 1].environment} before the gate to ${stages[i].environment} opens`);
    while (clock() < end) await waitForChangeOr(end, `Stability in ${stages[i - 1].environment}`);
  }

  /** Returns when the gate lets the release into stage i (or throws GateClosed). */
  async function passGate(i: number): Promise<void> {
    const stage = stages[i];
    const st = s.stages[i];
    if (!stage.gate) {
      st.gateState = 'skipped';
      return;
    }
    if (st.openedAtMs === null) {
      await awaitStability(i);
      st.openedAtMs = clock();
      st.gateState = 'open';
      setPhase('gate_open');
      event('gate_open', `Gate to ${stage.environment} open: ${progressOf(i)?.pending.join('; ') || 'ready'}`);
      thread.reply(`:vertical_traffic_light: Gate to ${stage.environment} open: ${progressOf(i)?.pending.join('; ') || 'ready'}`);
      if (stage.gate.approvals.length > 0) thread.open(gateKey(stage.environment));
    }
    for (;;) {
      if (s.rejection && s.rejection.environment === stage.environment) {
        const r = s.rejection;
        st.gateState = 'rejected';
        throw new GateClosed('rejected', `rejected for ${stage.environment} by ${r.by}${r.comment ? `: ${r.comment}` : ''}`);
      }
      if (st.gateState === 'departed') return;
      const p = progressOf(i) as GateProgress;
      if (p.expired && st.gateState !== 'satisfied') {
        st.gateState = 'expired';
        throw new GateClosed('expired', `the gate to ${stage.environment} was not satisfied within ${formatDuration(stage.gate.expirySeconds)}`);
      }
      if (p.ready && !stage.train) {
        st.gateState = 'satisfied';
        return;
      }
      if (p.ready && st.gateState !== 'satisfied') {
        st.gateState = 'satisfied';
        setPhase('waiting_for_train');
        const boarding = currentDeparture(stage.train as NonNullable<typeof stage.train>, clock());
        event('waiting_for_train', `Ready for ${stage.environment}; ${boarding === null ? `waiting for the train (${p.pending.join('; ')})` : 'the train is boarding'}`);
      } else if (!p.ready && st.gateState === 'satisfied') {
        st.gateState = 'open'; // e.g. a freeze began or a newer check failed
        setPhase('gate_open');
        event('gate_reopened', `No longer ready for ${stage.environment}: ${p.pending.join('; ')}`);
      }
      refreshDetails();
      await waitForChangeOr(nextTimeEvent(p), `Gate to ${stage.environment}`);
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
          args: [{ spec }],
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
            // The lane cancelled its deployment, which restored the previous colour (or, if it
            // had already reached 100 %, retired the old one) before the lane ended.
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
    main = new CancellationScope();
    await main.run(async () => {
      for (; s.stageIndex < stages.length; s.stageIndex++) {
        const i = s.stageIndex;
        await passGate(i);
        const result = await deploy(i);
        Object.assign(s.stages[i], { outcome: result.outcome, liveAt: result.liveAt, reason: result.reason });
        if (result.outcome !== 'succeeded') {
          throw new GateClosed(result.outcome === 'rolled_back' ? 'rolled_back' : 'failed', `the deployment to ${stages[i].environment} ${result.outcome.replace('_', ' ')}: ${result.reason ?? ''}`);
        }
        event('deployed', `${request.version} is live in ${stages[i].environment}`);
        thread.reply(`:white_check_mark: ${request.version} is live in ${stages[i].environment}`);
      }
    });
    finish('succeeded', 'completed', null);
  } catch (err) {
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
    await thread.close(SLACK_CLOSE_MS);
    await condition(allHandlersFinished);
  });
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
