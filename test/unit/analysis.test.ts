import { describe, expect, it } from 'vitest';
import { judge, trailingFailures } from '../../src/domain/analysis';
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
