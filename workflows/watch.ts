// Watching after a switch with the deployment analysis (a restore's services, a failover's new
// region): one sample is a `measure` activity's reading judged by src/domain/analysis.ts, which
// also holds the rule that ends a watch (addWatchSample).
import { isCancellation } from '@temporalio/workflow';
import { judgedSample, providerErrorSample } from '../src/domain/analysis';
import { causeMessage } from '../src/domain/errors';
import type { Measurement, Sample, Thresholds } from '../src/domain/types';

/**
 * What `measure` (the activity, with its options and window) read, judged against `thresholds`.
 * A provider that still fails after its retries is an inconclusive sample, never a breach;
 * cancellation is no sample and propagates.
 */
export async function analyse(measure: () => Promise<Measurement>, thresholds: Thresholds, where: { at: string; step: number; weight: number; label: string }): Promise<Sample> {
  try {
    return judgedSample(await measure(), thresholds, where);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return providerErrorSample(where.at, where.step, where.weight, causeMessage(err));
  }
}
