// The metrics of a pretend application for tests on the time-skipping server, where workflow
// time runs days ahead of the wall clock (so CloudWatch datapoints written "now" never fall in
// the window the workflow asks about). It answers like a real service: traffic in proportion
// to the colour's weight, read from the real router in moto, and health chosen by the test.
import type { Colour, Measurement, MetricsSpec } from '../../src/domain/types';
import type { MetricsProvider, TrafficRouter } from '../../src/providers/types';

export interface Health {
  errorRate: number;
  latencyMs: number;
}

export interface AppMetrics extends MetricsProvider {
  /** Every measurement made, with the weight the colour had then. */
  readonly calls: Array<{ colour: Colour; weight: number }>;
}

/**
 * @param health the colour's health at a given weight (e.g. breaking from 10 % on)
 * @param opts.first how the first calls behave, in order: `throw` (the provider fails, as
 *   when CloudWatch throttles), `no_data` (no datapoints yet) or `ok` (as usual)
 */
export function appMetrics(
  router: TrafficRouter | ((spec: MetricsSpec) => TrafficRouter),
  health: (weight: number, colour: Colour) => Health,
  opts: { requestsPerSecond?: number; first?: Array<'throw' | 'no_data' | 'ok'> } = {},
): AppMetrics {
  const rps = opts.requestsPerSecond ?? 50;
  const script = [...(opts.first ?? [])];
  const calls: AppMetrics['calls'] = [];
  return {
    calls,
    async measure(spec: MetricsSpec, colour: Colour, windowSeconds: number): Promise<Measurement> {
      const weight = (await (typeof router === 'function' ? router(spec) : router).getWeights())[colour];
      calls.push({ colour, weight });
      const misbehave = script.shift();
      if (misbehave === 'throw') throw new Error('Rate exceeded (CloudWatch throttling)');
      if (misbehave === 'no_data' || weight === 0) return { requests: null, errors: null, latencyMs: null, windowSeconds };
      const h = health(weight, colour);
      const requests = Math.round((rps * windowSeconds * weight) / 100);
      return { requests, errors: Math.round(requests * h.errorRate), latencyMs: h.latencyMs, windowSeconds };
    },
  };
}

export const healthy: Health = { errorRate: 0.001, latencyMs: 80 };
