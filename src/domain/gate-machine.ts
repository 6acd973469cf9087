// A release gate as a pure state machine: `stepGate(machine, facts, now)` returns the next
// machine, what happened (timeline events), the progress (for status and Slack), whether the
// release may go on into the environment, and when the answer can next change by itself
// (`wakeAt`). The release workflow feeds it facts (a check, an approval, a freeze, the previous
// environment going live or being rolled back, a timer) and does what it says. Boarding a
// train is decided here too, at the moment of boarding.
//
// The rules:
// - A gate with a stability requirement waits (state `waiting`) until the version has been
//   live, without interruption, that long in the previous environment; a version rolled back
//   or replaced there sends the gate back to waiting, and the clock restarts when it is live
//   again. A hotfix's gate opens at once (its hotfix role may waive the wait by approving).
// - Expiry counts only while the gate is open, its requirements unmet, and no freeze covers
//   it. A satisfied gate waiting for its train never expires, whatever the day of the week; a
//   freeze, however long, holds the count. Freeze boundaries are honoured exactly even when the
//   workflow wakes late: the count is walked from the last step through every boundary.
// - A satisfied gate may go on (without a train) or board (with one) only while no freeze
//   covers it; a newer failed check sends it back to open (and its expiry counts again).
import { activeFreeze, gateProgress } from './gates';
import { formatDuration } from './durations';
import { startCountdown, hold, leftMs, runWhile, dueAt, type Countdown } from './countdown';
import type { ApprovalRecord, CheckRecord, Freeze, GateProgress, GateSpec, GateState, TrainSpec } from './release';

export interface GateMachine {
  state: GateState;
  /** When the gate (first) opened, ms. */
  openedAt: number | null;
  /** Created when the gate opens; counts only while open, unsatisfied and unfrozen. */
  expiry: Countdown | null;
  /** When the requirements last came to hold. */
  satisfiedAt: number | null;
  /** The freeze holding the gate at the last step (its reason), to report changes once. */
  frozenBy: string | null;
  /** The train this gate boarded. */
  boarded: { trainId: string; departure: string; at: number } | null;
  /** Workflow time of the last step: expiry is walked from here through freeze boundaries. */
  steppedAt: number | null;
}

export interface GateFacts {
  gate: GateSpec | null;
  environment: string;
  checks: CheckRecord[];
  approvals: ApprovalRecord[];
  requestedBy: string;
  hotfix: boolean;
  hotfixApprovalRole: string | null;
  previousEnvironment: string | null;
  /** Since when the version has been live without interruption in the previous environment; null: not live there (yet, or any more). */
  previousLiveSinceMs: number | null;
  freezes: Freeze[];
  train: TrainSpec | null;
  /** Departures (ms) of this environment's train whose run has ended: they board no more. */
  trainsLeft?: number[];
}

export type GateEventType = 'stabilizing' | 'gate_open' | 'satisfied' | 'reopened' | 'frozen' | 'unfrozen' | 'expired' | 'rejected' | 'stability_lost';

export interface GateEvent {
  type: GateEventType;
  message: string;
}

export interface GateStep {
  machine: GateMachine;
  events: GateEvent[];
  /** Null before the gate opens (and for no gate). */
  progress: GateProgress | null;
  /** The release may enter the environment now (no gate; satisfied and unfrozen with no train; boarded). */
  proceed: boolean;
  /** The earliest instant the answer can change without a new fact; null: only a fact changes it. */
  wakeAt: number | null;
  /** What the gate still waits for, in plain words. */
  pending: string[];
}

export function newGateMachine(gate: GateSpec | null): GateMachine {
  return { state: gate ? 'waiting' : 'skipped', openedAt: null, expiry: null, satisfiedAt: null, frozenBy: null, boarded: null, steppedAt: null };
}

const TERMINAL: readonly GateState[] = ['expired', 'rejected'];

/** When stability in the previous environment is complete, null when it cannot complete yet (not live there), 0 when none is owed. */
export function stabilityEndMs(facts: GateFacts): number | null {
  const gate = facts.gate;
  if (!gate || gate.stabilitySeconds <= 0 || facts.previousEnvironment === null || facts.hotfix) return 0;
  if (facts.previousLiveSinceMs === null) return null;
  return facts.previousLiveSinceMs + gate.stabilitySeconds * 1000;
}

function progressOf(m: GateMachine, facts: GateFacts, nowMs: number): GateProgress {
  return gateProgress(facts.gate as GateSpec, {
    environment: facts.environment,
    nowMs,
    expiry: m.expiry ? { leftMs: leftMs(m.expiry, nowMs), running: m.expiry.since !== null } : null,
    checks: facts.checks,
    approvals: facts.approvals,
    requestedBy: facts.requestedBy,
    hotfix: facts.hotfix,
    hotfixApprovalRole: facts.hotfixApprovalRole,
    previousLiveSinceMs: facts.previousLiveSinceMs,
    previousEnvironment: facts.previousEnvironment,
    freezes: facts.freezes,
    train: facts.train,
    trainsLeft: facts.trainsLeft,
  });
}

/** Instants in (fromMs, toMs] where a freeze of this environment starts or ends, in order. */
function freezeBoundaries(freezes: Freeze[], environment: string, fromMs: number, toMs: number): number[] {
  const out = new Set<number>();
  for (const f of freezes) {
    if (!f.environments.includes(environment)) continue;
    for (const t of [Date.parse(f.from), Date.parse(f.to)]) if (t > fromMs && t <= toMs) out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}

/** The next freeze boundary of this environment after nowMs, or null. */
function nextFreezeBoundary(freezes: Freeze[], environment: string, nowMs: number): number | null {
  let next: number | null = null;
  for (const f of freezes) {
    if (!f.environments.includes(environment)) continue;
    for (const t of [Date.parse(f.from), Date.parse(f.to)]) if (t > nowMs && (next === null || t < next)) next = t;
  }
  return next;
}

/**
 * Brings an open gate's expiry up to nowMs: between steps nothing changes but the freezes, so
 * the count runs exactly while no freeze covered the gate.
 */
function walkExpiry(m: GateMachine, facts: GateFacts, nowMs: number): Countdown | null {
  if (!m.expiry || m.state !== 'open' || m.steppedAt === null) return m.expiry;
  let c = m.expiry;
  for (const b of freezeBoundaries(facts.freezes, facts.environment, m.steppedAt, nowMs)) {
    c = runWhile(c, activeFreeze(facts.freezes, facts.environment, b) === null, b);
  }
  return c;
}

function minOf(...xs: Array<number | null>): number | null {
  const real = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return real.length ? Math.min(...real) : null;
}

export function stepGate(machine: GateMachine, facts: GateFacts, nowMs: number): GateStep {
  const gate = facts.gate;
  if (!gate) return { machine: { ...machine, state: 'skipped' }, events: [], progress: null, proceed: true, wakeAt: null, pending: [] };
  let m: GateMachine = { ...machine, expiry: walkExpiry(machine, facts, nowMs) };
  const events: GateEvent[] = [];
  const env = facts.environment;
  const done = (proceed: boolean, progress: GateProgress | null, wakeAt: number | null, pending: string[]): GateStep => ({
    machine: { ...m, steppedAt: nowMs },
    events,
    progress,
    proceed,
    wakeAt,
    pending,
  });

  if (TERMINAL.includes(m.state)) return done(false, m.state === 'waiting' ? null : progressOf(m, facts, nowMs), null, []);
  if (m.state === 'departed') return done(true, progressOf(m, facts, nowMs), null, []);

  // Stability: owed in full, without interruption, before the gate opens.
  const end = stabilityEndMs(facts);
  const prev = facts.previousEnvironment ?? 'the previous environment';
  if (m.state !== 'waiting' && end === null) {
    // The version is no longer live there (rolled back, or replaced): wait again.
    m = { ...m, state: 'waiting', expiry: m.expiry ? hold(m.expiry, nowMs) : null };
    events.push({ type: 'stability_lost', message: `The version is no longer live in ${prev}: the gate to ${env} waits again, and its stability clock restarts when the version is live there again` });
  }
  if (m.state === 'waiting') {
    if (end === null) return done(false, null, null, [`waiting for the version to be live in ${prev}, then ${formatDuration(gate.stabilitySeconds)} of stability there`]);
    if (nowMs < end) {
      if (m.steppedAt === null || events.length > 0) {
        events.push({ type: 'stabilizing', message: `Waiting for ${formatDuration((end - nowMs) / 1000)} of stability in ${prev} before the gate to ${env} opens` });
      }
      return done(false, null, end, [`waiting for ${formatDuration(Math.ceil((end - nowMs) / 1000))} of stability in ${prev}; the gate opens then`]);
    }
    const reopening = m.openedAt !== null;
    m = { ...m, state: 'open', openedAt: m.openedAt ?? nowMs, expiry: m.expiry ?? startCountdown(gate.expirySeconds * 1000, nowMs, false) };
    const p0 = progressOf(m, facts, nowMs);
    events.push({ type: 'gate_open', message: `Gate to ${env} ${reopening ? 'open again' : 'open'}: ${p0.pending.filter((x) => !x.startsWith('expires')).join('; ') || 'ready'}` });
  }

  // Open or satisfied: evaluate the requirements now.
  const rejection = facts.approvals.find((a) => a.environment === env && a.decision === 'reject');
  if (rejection) {
    m = { ...m, state: 'rejected', expiry: m.expiry ? hold(m.expiry, nowMs) : null };
    events.push({ type: 'rejected', message: `Rejected for ${env} by ${rejection.by}${rejection.comment ? `: ${rejection.comment}` : ''}` });
    return done(false, progressOf(m, facts, nowMs), null, []);
  }
  const frozen = activeFreeze(facts.freezes, env, nowMs);
  if (frozen && m.frozenBy !== frozen.reason) events.push({ type: 'frozen', message: `${env} is frozen until ${new Date(Date.parse(frozen.to)).toISOString()}: ${frozen.reason}` });
  if (!frozen && m.frozenBy !== null) events.push({ type: 'unfrozen', message: `The freeze of ${env} (${m.frozenBy}) has ended` });
  m = { ...m, frozenBy: frozen ? frozen.reason : null };

  let p = progressOf(m, facts, nowMs);
  if (m.state === 'open' && p.requirementsHold) {
    m = { ...m, state: 'satisfied', satisfiedAt: nowMs };
    const next = gate.train === null ? (frozen ? 'held by the freeze' : 'going on') : 'waiting for the train';
    events.push({ type: 'satisfied', message: `Gate to ${env} satisfied; ${next}` });
  } else if (m.state === 'satisfied' && !p.requirementsHold) {
    m = { ...m, state: 'open', satisfiedAt: null };
    events.push({ type: 'reopened', message: `No longer ready for ${env}: ${p.pending.filter((x) => !x.startsWith('expires') && !x.startsWith('expiry')).join('; ')}` });
  }
  // Expiry counts only while open, unsatisfied and unfrozen.
  m = { ...m, expiry: m.expiry ? runWhile(m.expiry, m.state === 'open' && !frozen, nowMs) : null };
  p = progressOf(m, facts, nowMs);
  if (m.state === 'open' && p.expired) {
    m = { ...m, state: 'expired' };
    events.push({ type: 'expired', message: `The gate to ${env} was not satisfied within ${formatDuration(gate.expirySeconds)} of open, unfrozen time` });
    return done(false, p, null, []);
  }
  const proceed = m.state === 'satisfied' && !frozen && gate.train === null;
  const wakeAt = minOf(m.expiry ? dueAt(m.expiry) : null, nextFreezeBoundary(facts.freezes, env, nowMs));
  return done(proceed, p, wakeAt, p.pending);
}

/**
 * Why the gate may not board a train of `environment` now, re-evaluated at the moment of
 * boarding (freezes and checks included), or null when it may. `freezes` are the facts' freezes
 * plus those the train itself knows of.
 */
export function whyNotBoarding(m: GateMachine, facts: GateFacts, nowMs: number, environment: string): string | null {
  const gate = facts.gate;
  if (!gate || gate.train === null || facts.environment !== environment) return `the release is not waiting for the ${environment} train`;
  if (m.state === 'departed') return `already boarded the ${environment} train of ${m.boarded?.departure ?? 'an earlier departure'}`;
  const step = stepGate(m, facts, nowMs);
  const frozen = activeFreeze(facts.freezes, environment, nowMs);
  if (frozen) return `${environment} is frozen until ${new Date(Date.parse(frozen.to)).toISOString()}: ${frozen.reason}`;
  if (step.machine.state !== 'satisfied') {
    const pending = step.pending.filter((x) => !/^(next )?train /.test(x) && !x.startsWith('expires'));
    return `not ready for the ${environment} train: ${pending.join('; ') || `gate ${step.machine.state}`}`;
  }
  return null;
}

/** The gate boards a train (after whyNotBoarding said yes). */
export function boardGate(m: GateMachine, nowMs: number, trainId: string, departure: string): GateMachine {
  return { ...m, state: 'departed', boarded: { trainId, departure, at: nowMs }, expiry: m.expiry ? hold(m.expiry, nowMs) : null, steppedAt: nowMs };
}
