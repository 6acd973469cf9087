/**
 * A database's ledger (`ledger:<database>:<environment>`): the finished restores and drills of
 * one database, newest last, so a plan can predict a restore's duration and a database's
 * status can show its last drill and its age. Started by the first record (signal-with-start).
 *
 * Invariants: it only keeps what runs tell it (each run sends one record when it ends, keyed by
 * its id, so a repeated signal is recorded once); it keeps the newest MAX_RUNS; history stays
 * bounded by continue-as-new carrying the records.
 */
import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RunRecord } from '../src/domain/restore';
import { ledgerQuery, ledgerRecordSignal, type LedgerInput } from './messages';

const MAX_RUNS = 100;

export async function databaseLedger(input: LedgerInput = {}): Promise<void> {
  let runs: RunRecord[] = [...(input.runs ?? [])];
  let seen = 0;
  setHandler(ledgerRecordSignal, (r) => {
    runs = [...runs.filter((x) => x.id !== r.id), r].slice(-MAX_RUNS);
    seen++;
  });
  setHandler(ledgerQuery, () => ({ runs }));
  const maxHistory = input.maxHistoryEvents ?? 1000;
  for (;;) {
    const before = seen;
    await condition(() => seen !== before);
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= maxHistory) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof databaseLedger>({ runs, maxHistoryEvents: input.maxHistoryEvents });
    }
  }
}
