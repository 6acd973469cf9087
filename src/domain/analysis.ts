import type { Measurement, Sample, SampleReason, Thresholds, Verdict, Evidence } from './types';

export interface Judgement {
  verdict: Verdict;
  reason: SampleReason;
  errorRate: number | null;
  evidence?: Evidence;
  message: string;
}

/**
 * Three-valued analysis of one measurement. Only a real breach fails; missing data, too
 * little traffic and provider errors are inconclusive. Error rate is judged before latency
 * because it is the stronger signal of a broken release.
 */
export function judge(m: Measurement, t: Thresholds): Judgement {
  if (m.requests === null) {
    return { verdict: 'inconclusive', reason: 'no_data', errorRate: null, message: `no request datapoints in the last ${m.windowSeconds}s` };
  }
  if (m.requests < t.minRequests) {
    return {
      verdict: 'inconclusive',
      reason: 'low_traffic',
      errorRate: null,
      message: `only ${fmt(m.requests)} requests in ${m.windowSeconds}s (need ${t.minRequests})`,
    };
  }
  const errorRate = (m.errors ?? 0) / m.requests;
  if (errorRate > t.maxErrorRate) {
    return {
      verdict: 'fail',
      reason: 'error_rate',
      errorRate,
      evidence: { metric: 'error_rate', value: errorRate, threshold: t.maxErrorRate },
      message: `error rate ${pct(errorRate)} > ${pct(t.maxErrorRate)} over ${fmt(m.requests)} requests`,
    };
  }
  if (m.latencyMs !== null && m.latencyMs > t.maxLatencyMs) {
    return {
      verdict: 'fail',
      reason: 'latency',
      errorRate,
      evidence: { metric: 'latency_ms', value: m.latencyMs, threshold: t.maxLatencyMs },
      message: `latency ${fmt(m.latencyMs)} ms > ${t.maxLatencyMs} ms`,
    };
  }
  const latency = m.latencyMs === null ? 'latency n/a' : `latency ${fmt(m.latencyMs)} ms`;
  return { verdict: 'pass', reason: 'healthy', errorRate, message: `error rate ${pct(errorRate)}, ${latency}, ${fmt(m.requests)} requests` };
}

/** A measurement judged against thresholds, as a sample; `label` (what was measured) leads its message. */
export function judgedSample(m: Measurement, t: Thresholds, where: { at: string; step: number; weight: number; label?: string }): Sample {
  const j = judge(m, t);
  const message = where.label ? `${where.label}: ${j.message}` : j.message;
  return { at: where.at, step: where.step, weight: where.weight, verdict: j.verdict, reason: j.reason, requests: m.requests, errorRate: j.errorRate, latencyMs: m.latencyMs, ...(j.evidence ? { evidence: j.evidence } : {}), message };
}

export function providerErrorSample(at: string, step: number, weight: number, detail: string): Sample {
  return {
    at,
    step,
    weight,
    verdict: 'inconclusive',
    reason: 'provider_error',
    requests: null,
    errorRate: null,
    latencyMs: null,
    message: `metrics provider error: ${detail}`,
  };
}

/**
 * How many seconds a deployment's sample reads, back from `endMs`: the configured window, but
 * starting no earlier than the deployment's first traffic shift (`firstShiftMs`). Before that
 * moment the new colour's datapoints are another version's (an earlier run that sent it traffic,
 * then rolled back), and judging them would pass or roll back a version this run is not
 * deploying. Whole seconds, counted from the shift rounded up to a whole second: a provider that
 * rounds the window's start down to the second (CloudWatch's high-resolution periods, moto) still
 * starts at or after the shift. 0: the window (ending `lag` behind now) ends before that, so
 * nothing in it is this version's. `firstShiftMs` null (not known: a state carried from a run that
 * did not record it) leaves the configured window.
 */
export function windowSinceShift(configuredSeconds: number, firstShiftMs: number | null, endMs: number): number {
  if (firstShiftMs === null) return configuredSeconds;
  const from = Math.ceil(firstShiftMs / 1000) * 1000;
  return Math.max(0, Math.min(configuredSeconds, Math.floor((endMs - from) / 1000)));
}

/** What leads the message of a sample whose window was cut at the first shift (`windowSinceShift`). */
export function sinceShiftLabel(firstShiftAt: string, seconds: number, configuredSeconds: number): string {
  return `since the first shift at ${firstShiftAt} (${seconds}s of the ${configuredSeconds}s window)`;
}

/**
 * The sample taken when the window ends before the first shift (`windowSinceShift` is 0): no
 * datapoint can be this version's, so the provider is not asked. Inconclusive, like any window
 * without data: it never counts as a failure.
 */
export function noDataSinceShiftSample(where: { at: string; step: number; weight: number }, firstShiftAt: string, windowEnd: string): Sample {
  return {
    at: where.at,
    step: where.step,
    weight: where.weight,
    verdict: 'inconclusive',
    reason: 'no_data',
    requests: null,
    errorRate: null,
    latencyMs: null,
    message: `no datapoints since the first shift at ${firstShiftAt}: the window ends at ${windowEnd}, before it`,
  };
}

/** Consecutive failing samples at the end of the list (inconclusive samples neither reset nor count). */
export function trailingFailures(samples: readonly Sample[]): number {
  let n = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i];
    if (s.verdict === 'fail') n++;
    else if (s.verdict === 'pass') break;
  }
  return n;
}

/**
 * Watching after a switch (a restore's services, a failover's new region): the failing samples in
 * a row that end the watch, as a deployment's default failure limit; and how many samples the
 * status keeps.
 */
export const WATCH_FAILURE_LIMIT = 2;
export const WATCH_SAMPLES_KEPT = 60;

/**
 * How long a watch that runs from `startedMs` until `untilMs` sleeps before its next sample: until
 * the next multiple of `everyMs` from the start (the last sample at the end), so the time a sample
 * takes does not push the later ones back; a tick that passed while a sample ran is skipped.
 */
export function watchSleepMs(startedMs: number, everyMs: number, untilMs: number, nowMs: number): number {
  const next = startedMs + (Math.floor((nowMs - startedMs) / everyMs) + 1) * everyMs;
  return Math.max(1, Math.min(next, untilMs) - nowMs);
}

/**
 * A watch's samples with `sample` added (the newest WATCH_SAMPLES_KEPT), and whether the samples of
 * its step (one service, one monitored region) now end in WATCH_FAILURE_LIMIT failures.
 */
export function addWatchSample(samples: readonly Sample[], sample: Sample): { samples: Sample[]; failed: boolean } {
  const kept = [...samples, sample].slice(-WATCH_SAMPLES_KEPT);
  return { samples: kept, failed: trailingFailures(kept.filter((x) => x.step === sample.step)) >= WATCH_FAILURE_LIMIT };
}

export function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(2).replace(/\.?0+$/, '')} %`;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
