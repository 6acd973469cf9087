// The deployment's rules as pure functions: samples, soaks, operator actions on a carried
// countdown, cancellation at every stage, tail takeover; and the countdown itself.
import { describe, expect, it } from 'vitest';
import { dueAt, extend, extendFrom, finish, hold, leftMs, resume, startCountdown } from '../../src/domain/countdown';
import {
  applyAction,
  handOver,
  initialRollout,
  onCancel,
  onSample,
  startWait,
  waitMayEnd,
  waitTimeUp,
  whyNoTakeover,
  whyRefused,
  type RolloutState,
  type Stage,
} from '../../src/domain/rollout';
import { soakProblems } from '../../src/domain/plan';
import type { DeploymentPhase } from '../../src/domain/deployment';
import type { RolloutPlan, Sample, Verdict } from '../../src/domain/types';

const T0 = Date.parse('2026-11-30T10:00:00Z');
const S = 1000;

const plan: RolloutPlan = {
  name: 'test',
  steps: [{ type: 'shift', weight: 10 }, { type: 'soak', durationSeconds: 300 }, { type: 'shift', weight: 50 }, { type: 'soak', durationSeconds: 300 }, { type: 'shift', weight: 100 }],
  analysis: { intervalSeconds: 60, windowSeconds: 60, failureLimit: 3, inconclusiveLimit: 2, lagSeconds: 60 },
  keepPreviousForSeconds: 3600,
  standbyForSeconds: 86400,
  standbyCount: 1,
  stableTimeoutSeconds: 900,
  escalateAfterSeconds: 300,
  drainMarginSeconds: 30,
};

function sample(verdict: Verdict, weight = 10, step = 2): Sample {
  return { at: new Date(T0).toISOString(), step, weight, verdict, reason: verdict === 'pass' ? 'healthy' : verdict === 'fail' ? 'error_rate' : 'no_data', requests: 100, errorRate: verdict === 'fail' ? 0.05 : 0, latencyMs: 80, message: verdict };
}

function at(stage: Stage, phase: DeploymentPhase, over: Partial<RolloutState> = {}): RolloutState {
  return { ...initialRollout(new Date(T0).toISOString()), stage, phase, liveColour: 'blue', targetColour: 'green', ...over };
}

const soaking = (): RolloutState => startWait(at('steps', 'soaking', { stepIndex: 1 }), 'soak', 300, T0, 60);

describe('the countdown', () => {
  it('counts down while running, holds while held, and survives being carried as a plain value', () => {
    const c = startCountdown(600 * S, T0);
    expect(leftMs(c, T0 + 100 * S)).toBe(500 * S);
    const held = hold(c, T0 + 100 * S);
    expect(leftMs(held, T0 + 10_000 * S)).toBe(500 * S);
    expect(dueAt(held)).toBeNull();
    // Carried through JSON (continue-as-new) and resumed later: no sentinel, nothing lost.
    const carried = JSON.parse(JSON.stringify(held)) as typeof held;
    const resumed = resume(carried, T0 + 200 * S);
    expect(dueAt(resumed)).toBe(T0 + 700 * S);
    expect(leftMs(extend(resumed, 60 * S, T0 + 300 * S), T0 + 300 * S)).toBe(460 * S);
    expect(finish(resumed, T0 + 250 * S)).toMatchObject({ leftMs: 0 });
    // More time for one whose time was up, counted from a moment just past; from now if that
    // moment is more than the extension ago.
    const up = finish(resumed, T0 + 700 * S);
    expect(dueAt(extendFrom(up, 60 * S, T0 + 700 * S, T0 + 700 * S + 25))).toBe(T0 + 760 * S);
    expect(dueAt(extendFrom(up, 60 * S, T0 + 700 * S, T0 + 800 * S))).toBe(T0 + 860 * S);
  });

  it('keeps counting across a carried running value: time between runs counts', () => {
    const c = JSON.parse(JSON.stringify(startCountdown(600 * S, T0))) as ReturnType<typeof startCountdown>;
    expect(leftMs(c, T0 + 400 * S)).toBe(200 * S);
    expect(leftMs(c, T0 + 900 * S)).toBe(0);
  });
});

describe('analysis samples', () => {
  it('count failures across steps: only a pass resets them', () => {
    let s = soaking();
    s = onSample(s, sample('fail'), plan, T0).state;
    s = onSample(s, sample('fail'), plan, T0).state;
    // The next step's soak begins: the failures still count.
    s = startWait({ ...s, stepIndex: 3 }, 'soak', 300, T0 + 400 * S, 60);
    const third = onSample(s, sample('fail', 50, 4), plan, T0 + 460 * S);
    expect(third.rollback?.reason).toMatch(/3 consecutive failing samples, the last at 50 %/);
    const healed = onSample(onSample(soaking(), sample('fail'), plan, T0).state, sample('pass'), plan, T0);
    expect(healed.state.analysis.consecutiveFailures).toBe(0);
  });

  it('extend a soak by one interval when inconclusive, and fail safe beyond the limit', () => {
    let s = soaking();
    const first = onSample(s, sample('inconclusive'), plan, T0 + 60 * S);
    expect(first.rollback).toBeNull();
    expect(leftMs(first.state.wait!, T0 + 60 * S)).toBe(300 * S);
    s = onSample(first.state, sample('inconclusive'), plan, T0 + 120 * S).state;
    const third = onSample(s, sample('inconclusive'), plan, T0 + 180 * S);
    expect(third.rollback?.evidence).toEqual({ metric: 'inconclusive_samples', value: 3, threshold: 2 });
  });

  it('extend a soak whose time was up from the inconclusive sample\'s slot, so it ends on the next sample', () => {
    // The soak's timer fired at its end (a sample's slot too); the sample was judged 40 ms later.
    const up = waitTimeUp(soaking(), T0 + 300 * S + 3);
    const judged = T0 + 300 * S + 40;
    const fromSlot = onSample(up, sample('inconclusive'), plan, judged, T0 + 300 * S).state;
    expect(dueAt(fromSlot.wait!)).toBe(T0 + 360 * S);
    expect(waitMayEnd(fromSlot)).toBe(false);
    // Without a slot (runs recorded before), an interval from the moment it was judged.
    expect(dueAt(onSample(up, sample('inconclusive'), plan, judged).state.wait!)).toBe(judged + 60 * S);
    // A soak with time left still gets one interval more than it had.
    const mid = onSample(soaking(), sample('inconclusive'), plan, T0 + 120 * S, T0 + 120 * S).state;
    expect(dueAt(mid.wait!)).toBe(T0 + 360 * S);
  });

  it('during keep, only a breach counts: no data neither extends the keep nor rolls back', () => {
    const keep = startWait(at('keep', 'keeping_previous', { liveAt: new Date(T0).toISOString() }), 'keep_previous', 3600, T0, 60);
    const r = onSample(keep, sample('inconclusive', 100), plan, T0 + 60 * S);
    expect(r.rollback).toBeNull();
    expect(r.state.wait?.totalMs).toBe(3600 * S);
    let s = keep;
    for (let i = 0; i < 3; i++) s = onSample(s, sample('fail', 100), plan, T0).state;
    expect(s.rollback?.reason).toMatch(/3 consecutive failing samples/);
  });
});

describe('a soak ends', () => {
  it('when its time is up and its last sample did not fail', () => {
    let s = soaking();
    expect(waitMayEnd(s)).toBe(false);
    s = onSample(s, sample('pass'), plan, T0 + 300 * S).state;
    expect(waitMayEnd(waitTimeUp(s, T0 + 300 * S))).toBe(true);
  });

  it('never on a failing sample: it runs on until a sample that does not fail, even when promoted', () => {
    let s = onSample(soaking(), sample('fail'), plan, T0 + 300 * S).state;
    expect(waitMayEnd(waitTimeUp(s, T0 + 300 * S))).toBe(false);
    const promoted = applyAction(s, { action: 'promote', reason: 'hurry', actor: 'ada' }, T0 + 301 * S);
    expect(waitMayEnd(promoted.state)).toBe(false);
    expect(promoted.events[0].message).toMatch(/the last sample failed, so the soak ends at the next sample that does not/);
    s = onSample(promoted.state, sample('inconclusive'), plan, T0 + 360 * S).state;
    // Inconclusive extends it by an interval, then its time is up again.
    expect(waitMayEnd(waitTimeUp(s, T0 + 420 * S))).toBe(true);
  });
});

describe('operator actions', () => {
  it('pause, resume and extend act on the time left, also on a wait carried into a new run', () => {
    const carried = JSON.parse(JSON.stringify(soaking())) as RolloutState;
    const paused = applyAction(carried, { action: 'pause', reason: 'look', actor: 'ada' }, T0 + 100 * S).state;
    expect(paused.phase).toBe('paused');
    expect(leftMs(paused.wait!, T0 + 5000 * S)).toBe(200 * S);
    const resumed = applyAction(paused, { action: 'resume', reason: 'ok', actor: 'ada' }, T0 + 5000 * S).state;
    expect(resumed.phase).toBe('soaking');
    expect(dueAt(resumed.wait!)).toBe(T0 + 5200 * S);
    const extended = applyAction(resumed, { action: 'extend', reason: 'more', actor: 'ada', seconds: 60 }, T0 + 5100 * S).state;
    expect(leftMs(extended.wait!, T0 + 5100 * S)).toBe(160 * S);
  });

  it('rollback records who and why; a second one is refused', () => {
    const r = applyAction(soaking(), { action: 'rollback', reason: 'bad', actor: 'rosa' }, T0);
    expect(r.state.rollback).toMatchObject({ requestedBy: 'rosa', step: 2, reason: 'rollback requested by rosa (bad)' });
    expect(whyRefused(r.state, { action: 'rollback', reason: 'again', actor: 'ada' })).toMatch(/rolling back/);
  });
});

describe('cancelling', () => {
  it('rolls back before live and while the previous colour is hot', () => {
    for (const [stage, phase] of [['deploy', 'deploying'], ['steps', 'soaking'], ['keep', 'keeping_previous']] as const) {
      const r = onCancel(at(stage, phase), T0);
      expect(r.rollBack).toBe(true);
      expect(r.state.cancel?.effect).toBe('rollback');
      expect(r.state.rollback?.reason).toMatch(/cancelled/);
    }
  });

  it('leaves the new version live and the tail finishing during standby and retirement', () => {
    for (const [stage, phase] of [['standby', 'standby'], ['retire', 'retiring']] as const) {
      const r = onCancel(at(stage, phase, { liveAt: new Date(T0).toISOString() }), T0);
      expect(r.rollBack).toBe(false);
      expect(r.state.rollback).toBeNull();
      expect(r.state.cancel?.effect).toBe('tail_continues');
      expect(r.events[0].message).toMatch(/green stays live with the new version/);
    }
  });

  it('changes nothing while rolling back or after the end', () => {
    expect(onCancel(at('rollback', 'rolling_back', { rollback: { reason: 'x', requestedBy: null, step: null, evidence: null } }), T0)).toMatchObject({ rollBack: false, state: { cancel: { effect: 'already_safe' } } });
    expect(onCancel(at('done', 'completed'), T0).events).toEqual([]);
  });
});

describe('tail takeover', () => {
  it('is allowed during keep, standby and retirement only', () => {
    expect(whyNoTakeover(at('keep', 'keeping_previous'), 'deploy:web:prod:2')).toBeNull();
    expect(whyNoTakeover(at('standby', 'standby'), 'deploy:web:prod:2')).toBeNull();
    expect(whyNoTakeover(at('retire', 'retiring'), 'deploy:web:prod:2')).toBeNull();
    expect(whyNoTakeover(at('steps', 'soaking'), 'x')).toMatch(/not live yet/);
    expect(whyNoTakeover(at('rollback', 'rolling_back'), 'x')).toMatch(/rolling back/);
    expect(whyNoTakeover(at('done', 'completed'), 'x')).toMatch(/ended/);
    const handed = handOver(at('standby', 'standby'), 'deploy:web:prod:2', T0);
    expect(handed.state.handedOver).toEqual({ to: 'deploy:web:prod:2', at: new Date(T0).toISOString() });
    expect(handed.events[0].message).toBe("Tail taken over by deploy:web:prod:2 (blue was on standby); blue is now deploy:web:prod:2's to deploy onto");
    expect(whyNoTakeover(handed.state, 'deploy:web:prod:3')).toMatch(/already taken over by deploy:web:prod:2/);
  });
});

describe('plans', () => {
  it('refuse a soak that holds fewer samples than the failure limit: it could never roll back', () => {
    expect(soakProblems(plan.steps, { intervalSeconds: 60, failureLimit: 5 })).toEqual([]);
    expect(soakProblems([{ type: 'shift', weight: 10 }, { type: 'soak', durationSeconds: 90 }, { type: 'shift', weight: 100 }], { intervalSeconds: 60, failureLimit: 2 })).toEqual([
      'step 2: a 1m30s soak holds 1 sample at 1m intervals, fewer than failureLimit 2: it could never roll back (soak at least 2m)',
    ]);
  });
});
