/**
 * The readiness registry (`readiness-registry`): the latest disaster-recovery readiness report
 * of each service environment, for the API and for the next readiness run (which posts only
 * what changed). Started by the first record (signal-with-start).
 *
 * Invariants: it keeps only what readiness runs tell it, one report per service environment
 * (a newer one replaces it; an older one arriving late is ignored); history stays bounded by
 * continue-as-new carrying the reports.
 */
import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ReadinessReport } from '../src/domain/failover';
import { readinessQuery, readinessRecordSignal, type ReadinessRegistryInput } from './messages';

const key = (r: ReadinessReport) => `${r.service}\u0000${r.environment}`;

export async function readinessRegistry(input: ReadinessRegistryInput = {}): Promise<void> {
  const latest = new Map<string, ReadinessReport>((input.reports ?? []).map((r) => [key(r), r]));
  let seen = 0;
  setHandler(readinessRecordSignal, (reports) => {
    for (const r of reports) {
      const before = latest.get(key(r));
      if (!before || before.checkedAt <= r.checkedAt) latest.set(key(r), r);
    }
    seen++;
  });
  setHandler(readinessQuery, () => ({ reports: [...latest.values()] }));
  const maxHistory = input.maxHistoryEvents ?? 1000;
  for (;;) {
    const before = seen;
    await condition(() => seen !== before);
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= maxHistory) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof readinessRegistry>({ reports: [...latest.values()], maxHistoryEvents: input.maxHistoryEvents });
    }
  }
}
