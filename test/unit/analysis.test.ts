import { describe, expect, it } from 'vitest';
import { addWatchSample, judge, judgedSample, trailingFailures, WATCH_FAILURE_LIMIT, WATCH_SAMPLES_KEPT, watchSleepMs } from '../../src/domain/analysis';
import type { Sample } from '../../src/domain/types';

const t = { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 20 };
const m = (requests: number | null, errors: number | null, latencyMs: number | null) => ({ requests, errors, latencyMs, windowSeconds: 60 });

describe('judge', () => {
  it('passes a healthy window', () => {
    const j = judge(m(1000, 2, 120), t);
    expect(j.verdict).toBe('pass');
    expect(j.errorRate).toBeCloseTo(0.002);
  });

  it('fails when the error rate breaches and names the metric, value and threshold', () => {
    const j = judge(m(1000, 30, 120), t);
    expect(j).toMatchObject({ verdict: 'fail', reason: 'error_rate', evidence: { metric: 'error_rate', value: 0.03, threshold: 0.01 } });
    expect(j.message).toContain('3 %');
  });

  it('fails when latency breaches', () => {
    expect(judge(m(1000, 0, 800), t)).toMatchObject({ verdict: 'fail', reason: 'latency', evidence: { metric: 'latency_ms', value: 800, threshold: 500 } });
  });

  it('is inconclusive without data rather than failing', () => {
    expect(judge(m(null, null, null), t)).toMatchObject({ verdict: 'inconclusive', reason: 'no_data' });
  });

  it('is inconclusive with too little traffic even if every request failed', () => {
    expect(judge(m(5, 5, 900), t)).toMatchObject({ verdict: 'inconclusive', reason: 'low_traffic' });
  });

  it('treats a rate exactly at the threshold as a pass', () => {
    expect(judge(m(1000, 10, 500), t).verdict).toBe('pass');
  });

  it('passes when only latency is missing', () => {
    expect(judge(m(100, 0, null), t).verdict).toBe('pass');
  });
});

describe('trailingFailures', () => {
  const s = (verdict: Sample['verdict']) => ({ verdict }) as Sample;
  it('counts consecutive failures at the end, skipping inconclusive ones', () => {
    expect(trailingFailures([s('fail'), s('pass'), s('fail'), s('inconclusive'), s('fail')])).toBe(2);
    expect(trailingFailures([s('fail'), s('pass')])).toBe(0);
  });
});

describe('watching after a switch', () => {
  const where = { at: '2026-11-29T10:00:00.000Z', step: 3, weight: 100, label: 'us-west-2 blue' };

  it('makes a sample of a judged measurement, labelled, with its evidence', () => {
    expect(judgedSample(m(1000, 30, 120), t, where)).toEqual({
      at: where.at, step: 3, weight: 100, verdict: 'fail', reason: 'error_rate', requests: 1000, errorRate: 0.03, latencyMs: 120,
      evidence: { metric: 'error_rate', value: 0.03, threshold: 0.01 },
      message: 'us-west-2 blue: error rate 3 % > 1 % over 1000 requests',
    });
    expect(judgedSample(m(null, null, null), t, where)).not.toHaveProperty('evidence');
  });

  it('samples on a fixed cadence from the start, the last at the end, skipping a tick a slow sample missed', () => {
    // From 0 until 100 every 30: samples at 30, 60, 90 and 100, however long each took.
    expect(watchSleepMs(0, 30, 100, 0)).toBe(30);
    expect(watchSleepMs(0, 30, 100, 31)).toBe(29);
    expect(watchSleepMs(0, 30, 100, 60)).toBe(30);
    expect(watchSleepMs(0, 30, 100, 92)).toBe(8);
    expect(watchSleepMs(0, 30, 100, 65 + 30)).toBe(5);
    // A sample that took past the next tick waits for the one after, never less than a millisecond.
    expect(watchSleepMs(0, 30, 1000, 61)).toBe(29);
    expect(watchSleepMs(0, 30, 100, 100)).toBe(1);
  });

  it('fails a watch at WATCH_FAILURE_LIMIT failing samples in a row of one step, keeping the newest samples', () => {
    const at = (step: number, verdict: Sample['verdict']) => ({ step, verdict }) as Sample;
    let samples: Sample[] = [];
    const add = (x: Sample) => {
      const r = addWatchSample(samples, x);
      samples = r.samples;
      return r.failed;
    };
    expect(add(at(0, 'fail'))).toBe(false);
    // Another step's failure does not count toward this one's.
    expect(add(at(1, 'fail'))).toBe(false);
    expect(add(at(0, 'inconclusive'))).toBe(false);
    expect(WATCH_FAILURE_LIMIT).toBe(2);
    expect(add(at(0, 'fail'))).toBe(true);
    for (let i = 0; i < WATCH_SAMPLES_KEPT; i++) add(at(2, 'pass'));
    expect(samples).toHaveLength(WATCH_SAMPLES_KEPT);
    expect(samples.every((x) => x.step === 2)).toBe(true);
  });
});
