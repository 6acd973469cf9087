// A run's last status, kept in its memo as it ends, so that reading a finished run costs one
// describe instead of a query, which for a closed run makes a worker replay its whole history.
// The status query still answers as before: the memo is a copy the API may read instead.
import { patched, upsertMemo } from '@temporalio/workflow';

export const FINAL_STATUS_PATCH = 'final-status-memo';

/** The memo field that holds a finished run's status (the same JSON its status query answers). */
export const FINAL_STATUS_MEMO = 'finalStatus';

/**
 * The most JSON a final status may take in the memo. Temporal refuses a memo past its limit
 * (`limit.memoSize.error`, 2 MB by default) by failing the workflow task, which would keep a
 * run from ending; a status past this stays out of the memo (readers then query the run), and
 * the payload codec's encryption roughly doubles what is stored, which this leaves room for.
 */
export const FINAL_STATUS_MAX_CHARS = 32 * 1024;

/**
 * Records `status` (the run's status as it ends) in the memo. Call it last, in the same
 * workflow task as the run's result, once nothing can change the status any more. Runs
 * that started before this existed replay without it (`applied`: the run's `patched`).
 */
export function keepFinalStatus(status: object, applied: (patchId: string) => boolean = patched): void {
  if (!applied(FINAL_STATUS_PATCH)) return;
  if (JSON.stringify(status).length > FINAL_STATUS_MAX_CHARS) return;
  upsertMemo({ [FINAL_STATUS_MEMO]: status });
}
