// The gate machine on the production calendar: a week of stability, a 72 h expiry, the
// Tuesday 10:00 America/Los_Angeles train, freezes. Pure: the test plays the workflow (it steps
// the machine at every instant the machine asks to be woken) and the train (it tries to board
// at every departure, and every hour while the departure's window is open).
import { describe, expect, it } from 'vitest';
import { boardGate, newGateMachine, stepGate, whyNotBoarding, type GateFacts, type GateMachine } from '../../src/domain/gate-machine';
import { currentDeparture, formatUtc, nextDepartures } from '../../src/domain/calendar';
import type { ApprovalRecord, CheckRecord, Freeze, GateSpec } from '../../src/domain/release';
import { PROD_TRAIN } from '../harness/fixtures';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const utc = (iso: string): number => Date.parse(iso);
const train = { ...PROD_TRAIN, order: [] };

const PROD_GATE: GateSpec = {
  checks: ['ci'],
  approvals: [{ role: 'qa', count: 1 }],
  stabilitySeconds: 7 * 24 * 3600,
  train: 'prod',
  expirySeconds: 72 * 3600,
};

const passed = (atMs: number): CheckRecord => ({ name: 'ci', status: 'passed', url: null, by: 'ci-bot', at: new Date(atMs).toISOString() });
const failed = (atMs: number): CheckRecord => ({ ...passed(atMs), status: 'failed' });
const qa = (atMs: number, decision: 'approve' | 'reject' = 'approve'): ApprovalRecord => ({
  environment: 'prod',
  decision,
  by: 'quinn',
  roles: ['qa'],
  comment: decision === 'reject' ? 'not this one' : null,
  at: new Date(atMs).toISOString(),
});

function facts(over: Partial<GateFacts> = {}): GateFacts {
  return {
    gate: PROD_GATE,
    environment: 'prod',
    checks: [],
    approvals: [],
    requestedBy: 'dev',
    hotfix: false,
    hotfixApprovalRole: null,
    previousEnvironment: 'staging',
    previousLiveSinceMs: null,
    freezes: [],
    train,
    ...over,
  };
}

/**
 * Plays the workflow from `fromMs` to `untilMs`: steps the machine at every instant it asks
 * for; the train tries to board at each departure and, like the real one, every 5 minutes while
 * its window is open. Returns the machine and when it boarded (null: it did not).
 */
function run(m0: GateMachine, f: GateFacts, fromMs: number, untilMs: number): { machine: GateMachine; boardedAt: number | null; states: string[] } {
  const POLL = 5 * 60_000;
  let m = m0;
  const states: string[] = [];
  for (let t = fromMs; ; ) {
    const step = stepGate(m, f, t);
    m = step.machine;
    states.push(m.state);
    if (['expired', 'rejected'].includes(m.state)) return { machine: m, boardedAt: null, states };
    const open = currentDeparture(train, t);
    if (open !== null && whyNotBoarding(m, f, t, 'prod') === null) {
      return { machine: boardGate(m, t, 'train-prod-x', new Date(open).toISOString()), boardedAt: t, states };
    }
    const nextTrain = open !== null && t + POLL < open + train.windowSeconds * 1000 ? t + POLL : nextDepartures(train, t, 1)[0];
    const next = Math.min(step.wakeAt ?? Infinity, nextTrain);
    if (next <= t) throw new Error(`asked to wake at ${next}, not after ${t}`);
    if (next >= untilMs) return { machine: m, boardedAt: null, states };
    t = next;
  }
}

/** The departure a release satisfied at `ms` leaves on: the one boarding then, else the next. */
function expectedDeparture(ms: number): number {
  return currentDeparture(train, ms) ?? nextDepartures(train, ms, 1)[0];
}

describe('a prod gate on the production calendar (7 d stability, 72 h expiry, Tuesday train)', () => {
  // Two weeks: one in summer time that ends on the Sunday US clocks fall back (2026-11-01),
  // and one wholly in winter time.
  const weeks = [utc('2026-10-27T17:00:00Z'), utc('2026-11-10T18:00:00Z')]; // Tue 10:00 PDT, Tue 10:00 PST

  for (const weekStart of weeks) {
    it(`leaves on the next departure when satisfied at any of the 168 hours of the week of ${formatUtc(weekStart)}`, () => {
      const misses: string[] = [];
      for (let h = 0; h < 168; h++) {
        const satisfiedAt = weekStart + h * HOUR + 30 * 60_000;
        // Live in staging a week and an hour before: the gate opens an hour before it is satisfied.
        const liveSince = satisfiedAt - 7 * DAY - HOUR;
        const before = facts({ previousLiveSinceMs: liveSince });
        const opened = stepGate(newGateMachine(PROD_GATE), before, satisfiedAt - HOUR);
        expect(opened.machine.state).toBe('open');
        const after = facts({ previousLiveSinceMs: liveSince, checks: [passed(satisfiedAt)], approvals: [qa(satisfiedAt)] });
        const { machine, boardedAt, states } = run(opened.machine, after, satisfiedAt, satisfiedAt + 9 * DAY);
        const want = expectedDeparture(satisfiedAt);
        const wantBoarding = Math.max(want, satisfiedAt);
        if (boardedAt === null || boardedAt < want || boardedAt - wantBoarding > 5 * 60_000 || machine.state !== 'departed' || states.includes('expired')) {
          misses.push(`satisfied ${formatUtc(satisfiedAt)}: boarded ${boardedAt === null ? 'never' : formatUtc(boardedAt)}, wanted the departure of ${formatUtc(want)} (states ${[...new Set(states)].join(' → ')})`);
        }
      }
      expect(misses).toEqual([]);
    });
  }

  it('opens only after a week of uninterrupted stability, and waits again when the version is rolled back there', () => {
    const live = utc('2026-11-02T12:00:00Z');
    const waiting = stepGate(newGateMachine(PROD_GATE), facts({ previousLiveSinceMs: live }), live + DAY);
    expect(waiting.machine.state).toBe('waiting');
    expect(waiting.wakeAt).toBe(live + 7 * DAY);
    expect(waiting.pending[0]).toMatch(/^waiting for 6d of stability in staging; the gate opens then$/);

    const open = stepGate(waiting.machine, facts({ previousLiveSinceMs: live }), live + 7 * DAY);
    expect(open.machine.state).toBe('open');
    expect(open.events.map((e) => e.type)).toEqual(['gate_open']);

    // Rolled back in staging two days later: the gate waits again, its expiry held.
    const lost = stepGate(open.machine, facts({ previousLiveSinceMs: null }), live + 9 * DAY);
    expect(lost.machine.state).toBe('waiting');
    expect(lost.events.map((e) => e.type)).toEqual(['stability_lost']);
    expect(lost.wakeAt).toBeNull();
    // Live again: the clock restarts from then, and the expiry resumes where it stood.
    const relive = live + 10 * DAY;
    const again = stepGate(lost.machine, facts({ previousLiveSinceMs: relive }), relive + 7 * DAY);
    expect(again.machine.state).toBe('open');
    expect(again.progress?.expiryLeftSeconds).toBe(72 * 3600 - 2 * 24 * 3600);
  });

  it('counts expiry only while open and unsatisfied: a newer failed check resumes it where it was held', () => {
    const t0 = utc('2026-11-04T12:00:00Z');
    const f0 = facts({ gate: { ...PROD_GATE, stabilitySeconds: 0 } });
    let m = stepGate(newGateMachine(f0.gate), f0, t0).machine;
    // Satisfied after 10 h.
    const ok = { ...f0, checks: [passed(t0 + 10 * HOUR)], approvals: [qa(t0 + 10 * HOUR)] };
    m = stepGate(m, ok, t0 + 10 * HOUR).machine;
    expect(m.state).toBe('satisfied');
    // A newer CI run fails 100 h later: open again, 62 h left (the 100 h satisfied did not count).
    const broken = { ...ok, checks: [...ok.checks, failed(t0 + 110 * HOUR)] };
    const reopened = stepGate(m, broken, t0 + 110 * HOUR);
    expect(reopened.machine.state).toBe('open');
    expect(reopened.events.map((e) => e.type)).toEqual(['reopened']);
    expect(reopened.progress?.expiryLeftSeconds).toBe(62 * 3600);
    expect(reopened.wakeAt).toBe(t0 + 172 * HOUR);
    const expired = stepGate(reopened.machine, broken, t0 + 172 * HOUR);
    expect(expired.machine.state).toBe('expired');
  });

  it('ends as rejected when someone with a deciding role rejects', () => {
    const t0 = utc('2026-11-04T12:00:00Z');
    const f0 = facts({ gate: { ...PROD_GATE, stabilitySeconds: 0 } });
    const m = stepGate(newGateMachine(f0.gate), f0, t0).machine;
    const r = stepGate(m, { ...f0, approvals: [qa(t0 + HOUR, 'reject')] }, t0 + HOUR);
    expect(r.machine.state).toBe('rejected');
    expect(r.events[0].message).toBe('Rejected for prod by quinn: not this one');
    expect(r.proceed).toBe(false);
  });
});

describe('freezes', () => {
  const gate: GateSpec = { ...PROD_GATE, stabilitySeconds: 0 };
  const freeze = (from: string, to: string, reason = 'year-end freeze'): Freeze => ({ from, to, environments: ['prod'], reason });

  it('hold boarding when they start after the gate was satisfied, and the departure inside boards nothing', () => {
    const satisfiedAt = utc('2026-11-30T20:00:00Z'); // Mon 12:00 PST
    const f = facts({ gate, checks: [passed(satisfiedAt)], approvals: [qa(satisfiedAt)], freezes: [freeze('2026-12-01T06:00:00Z', '2026-12-03T00:00:00Z')] });
    const m = stepGate(stepGate(newGateMachine(gate), facts({ gate }), satisfiedAt - HOUR).machine, f, satisfiedAt).machine;
    expect(m.state).toBe('satisfied');
    // The machine asks to be woken when the freeze starts, and then says it is frozen.
    const before = stepGate(m, f, satisfiedAt);
    expect(before.wakeAt).toBe(utc('2026-12-01T06:00:00Z'));
    const frozen = stepGate(before.machine, f, utc('2026-12-01T06:00:00Z'));
    expect(frozen.events.map((e) => e.type)).toEqual(['frozen']);
    expect(frozen.machine.state).toBe('satisfied');
    // The departure of Tue 2026-12-01 10:00 PST falls inside: boarding is refused, saying why.
    const departure = utc('2026-12-01T18:00:00Z');
    expect(whyNotBoarding(frozen.machine, f, departure, 'prod')).toBe('prod is frozen until 2026-12-03T00:00:00.000Z: year-end freeze');
    // The next departure after the freeze boards it.
    const { boardedAt, states } = run(frozen.machine, f, utc('2026-12-01T06:00:00Z'), utc('2026-12-10T00:00:00Z'));
    expect(boardedAt).toBe(utc('2026-12-08T18:00:00Z'));
    expect(states).not.toContain('expired');
  });

  it('also hold boarding for a freeze the train knows of and the release does not yet', () => {
    const t = utc('2026-12-01T18:00:00Z');
    const f = facts({ gate, checks: [passed(t - DAY)], approvals: [qa(t - DAY)] });
    const m = stepGate(stepGate(newGateMachine(gate), f, t - DAY).machine, f, t - DAY).machine;
    expect(whyNotBoarding(m, f, t, 'prod')).toBeNull();
    const known = { ...f, freezes: [freeze('2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', 'declared a minute ago')] };
    expect(whyNotBoarding(m, known, t, 'prod')).toMatch(/frozen until .*declared a minute ago/);
  });

  it('longer than the expiry never expire a satisfied gate', () => {
    const satisfiedAt = utc('2026-12-16T20:00:00Z'); // a Wednesday
    const f = facts({ gate, checks: [passed(satisfiedAt)], approvals: [qa(satisfiedAt)], freezes: [freeze('2026-12-17T00:00:00Z', '2027-01-04T08:00:00Z')] });
    const m = stepGate(stepGate(newGateMachine(gate), facts({ gate }), satisfiedAt).machine, f, satisfiedAt).machine;
    const { boardedAt, states } = run(m, f, satisfiedAt, utc('2027-01-10T00:00:00Z'));
    expect(states).not.toContain('expired');
    // Dec 22 and 29 fall inside the freeze: the first departure after it is Tue Jan 5, 10:00 PST.
    expect(boardedAt).toBe(utc('2027-01-05T18:00:00Z'));
  });

  it('longer than the expiry hold an unsatisfied gate\'s expiry too, exactly, even when woken late', () => {
    const openedAt = utc('2026-12-14T00:00:00Z');
    const f = facts({ gate, freezes: [freeze('2026-12-15T00:00:00Z', '2026-12-25T00:00:00Z')] });
    const opened = stepGate(newGateMachine(gate), f, openedAt).machine;
    // Woken only long after the freeze ended: 24 h counted before it, 24 h after it.
    const late = stepGate(opened, f, utc('2026-12-26T00:00:00Z'));
    expect(late.machine.state).toBe('open');
    expect(late.progress?.expiryLeftSeconds).toBe(24 * 3600);
    expect(late.wakeAt).toBe(utc('2026-12-27T00:00:00Z'));
    expect(stepGate(late.machine, f, utc('2026-12-27T00:00:00Z')).machine.state).toBe('expired');
  });

  it('let a gate without a train go on only when no freeze covers it', () => {
    const noTrain: GateSpec = { ...gate, train: null };
    const t = utc('2026-12-16T12:00:00Z');
    const f = facts({ gate: noTrain, train: null, checks: [passed(t)], approvals: [qa(t)], freezes: [freeze('2026-12-16T00:00:00Z', '2026-12-17T00:00:00Z')] });
    const held = stepGate(newGateMachine(noTrain), f, t);
    expect(held.machine.state).toBe('satisfied');
    expect(held.proceed).toBe(false);
    expect(held.wakeAt).toBe(utc('2026-12-17T00:00:00Z'));
    const free = stepGate(held.machine, f, utc('2026-12-17T00:00:00Z'));
    expect(free.proceed).toBe(true);
    expect(free.events.map((e) => e.type)).toEqual(['unfrozen']);
  });
});

describe('boarding', () => {
  const gate: GateSpec = { ...PROD_GATE, stabilitySeconds: 0 };

  it('is refused when the gate is not ready, saying what is missing, and once boarded', () => {
    const t = utc('2026-12-01T18:00:00Z');
    const f = facts({ gate, checks: [passed(t - DAY)] });
    const m = stepGate(newGateMachine(gate), f, t - DAY).machine;
    expect(whyNotBoarding(m, f, t, 'prod')).toBe('not ready for the prod train: waiting for 1 more qa approval');
    expect(whyNotBoarding(m, f, t, 'staging')).toBe('the release is not waiting for the staging train');
    const ok = { ...f, approvals: [qa(t - HOUR)] };
    const ready = stepGate(m, ok, t - HOUR).machine;
    const boarded = boardGate(ready, t, 'train-prod-1', new Date(t).toISOString());
    expect(whyNotBoarding(boarded, ok, t, 'prod')).toMatch(/^already boarded the prod train/);
    expect(stepGate(boarded, ok, t + DAY * 30)).toMatchObject({ proceed: true, machine: { state: 'departed' } });
  });

  it('re-evaluates checks at the moment of boarding', () => {
    const t = utc('2026-12-01T18:00:00Z');
    const f = facts({ gate, checks: [passed(t - DAY)], approvals: [qa(t - DAY)] });
    const m = stepGate(newGateMachine(gate), f, t - DAY).machine;
    expect(m.state).toBe('satisfied');
    const broken = { ...f, checks: [...f.checks, failed(t - HOUR)] };
    expect(whyNotBoarding(m, broken, t, 'prod')).toMatch(/check 'ci' failed/);
  });
});
