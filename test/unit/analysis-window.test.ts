import { describe, expect, it } from 'vitest';
import { judgedSample, noDataSinceShiftSample, sinceShiftLabel, windowSinceShift } from '../../src/domain/analysis';
import { initialRollout, onSample, startWait } from '../../src/domain/rollout';
import type { RolloutPlan } from '../../src/domain/types';

const SHIFT = Date.parse('2025-03-04T10:00:00.000Z');
const s = (seconds: number) => SHIFT + seconds * 1000;

describe('the analysis window of a deployment (windowSinceShift)', () => {
  it('keeps the configured window once the first shift is older than it', () => {
    expect(windowSinceShift(60, SHIFT, s(61))).toBe(60);
    expect(windowSinceShift(60, SHIFT, s(60))).toBe(60);
    expect(windowSinceShift(60, SHIFT, s(3600))).toBe(60);
  });

  it('starts the window at the first shift while the shift is younger than the window', () => {
    expect(windowSinceShift(60, SHIFT, s(45))).toBe(45);
    expect(windowSinceShift(60, SHIFT, s(1))).toBe(1);
  });

  it('counts whole seconds from the shift rounded up, so a start rounded down to the second is still after it', () => {
    expect(windowSinceShift(60, SHIFT, s(45.999))).toBe(45);
    expect(windowSinceShift(60, SHIFT, s(0.999))).toBe(0);
    // Shifted at 10:00:00.400: a window ending at 10:00:01.700 may only start at 10:00:01.
    expect(windowSinceShift(60, s(0.4), s(1.7))).toBe(0);
    expect(windowSinceShift(60, s(0.4), s(2.7))).toBe(1);
    const start = s(2.7) - 1000;
    expect(Math.floor(start / 1000) * 1000).toBeGreaterThanOrEqual(s(0.4));
  });

  it('leaves no window when the lagged end is at or before the shift', () => {
    expect(windowSinceShift(60, SHIFT, s(0))).toBe(0);
    expect(windowSinceShift(60, SHIFT, s(-30))).toBe(0);
  });

  it('keeps the configured window when the first shift is not known (a state carried from an older run)', () => {
    expect(windowSinceShift(60, null, s(5))).toBe(60);
  });
});

describe('samples of a window cut at the first shift', () => {
  const plan: RolloutPlan = {
    name: 'test',
    steps: [{ type: 'shift', weight: 10 }, { type: 'soak', durationSeconds: 60 }, { type: 'shift', weight: 100 }],
    analysis: { intervalSeconds: 10, windowSeconds: 60, failureLimit: 1, inconclusiveLimit: 5, lagSeconds: 60 },
    keepPreviousForSeconds: 60,
    standbyForSeconds: 60,
    standbyCount: 1,
    stableTimeoutSeconds: 60,
    escalateAfterSeconds: 300,
    drainMarginSeconds: 0,
  };

  it('judges a window that ends before the shift inconclusive, saying why, and it neither fails nor rolls back', () => {
    const sample = noDataSinceShiftSample({ at: new Date(s(10)).toISOString(), step: 2, weight: 10 }, new Date(SHIFT).toISOString(), new Date(s(-50)).toISOString());
    expect(sample).toMatchObject({ verdict: 'inconclusive', reason: 'no_data', requests: null, errorRate: null, step: 2, weight: 10 });
    expect(sample.message).toBe('no datapoints since the first shift at 2025-03-04T10:00:00.000Z: the window ends at 2025-03-04T09:59:10.000Z, before it');

    // Even with a failure limit of one, it is no failure: the soak lasts one more interval.
    const soaking = startWait({ ...initialRollout(new Date(SHIFT).toISOString()), stage: 'steps', stepIndex: 1 }, 'soak', 60, s(0), 10);
    const r = onSample(soaking, sample, plan, s(10));
    expect(r.rollback).toBeNull();
    expect(r.state.analysis.consecutiveFailures).toBe(0);
    expect(r.state.analysis.inconclusiveInSoak).toBe(1);
  });

  it('reports the cut window in the judged sample', () => {
    const label = sinceShiftLabel(new Date(SHIFT).toISOString(), 12, 60);
    const thresholds = { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 20 };
    const sample = judgedSample({ requests: 5, errors: 0, latencyMs: 80, windowSeconds: 12 }, thresholds, { at: new Date(s(72)).toISOString(), step: 2, weight: 10, label });
    expect(sample.message).toBe('since the first shift at 2025-03-04T10:00:00.000Z (12s of the 60s window): only 5 requests in 12s (need 20)');
  });
});
