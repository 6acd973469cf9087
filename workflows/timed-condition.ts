// A timed wait in fewer promises. The SDK's promise hook records a source-mapped stack for every
// promise a workflow makes (for the stack-trace query); in a deployment's workflow tasks it was
// about half of the worker's time (BENCHMARKS.md, overhead).
import { CancellationScope, condition, sleep } from '@temporalio/workflow';

/**
 * `condition(fn, ms, {summary})` in about half its promises: true when `fn` held first, false
 * when the timer fired. The same commands: the timer starts at once and is cancelled when `fn`
 * ends the wait or the caller's scope is cancelled (CancelledFailure, as condition), unless
 * `keepTimer(leftMs)`, given the time until the timer is due, says to leave it to run out: it
 * then fires into a task that changes nothing. With `keepTimer` the timer is shielded from the
 * caller's scope, and cancelled by the wait itself, so the rule holds for a cancel too. Where
 * the waiting coroutine resumes differs from condition (fewer promise steps), and with it
 * possibly the order of a task's commands: a run recorded with `condition` goes on with
 * `condition` (a patch).
 */
export async function timedCondition(fn: () => boolean, ms: number, opts: { summary?: string; keepTimer?: (leftMs: number) => boolean } = {}): Promise<boolean> {
  const { keepTimer } = opts;
  const timer = keepTimer ? new CancellationScope({ cancellable: true, parent: new CancellationScope({ cancellable: false }) }) : new CancellationScope();
  const due = Date.now() + ms;
  let fired = false;
  void timer.run(() => sleep(ms, opts.summary ? { summary: opts.summary } : undefined)).then(
    () => {
      fired = true;
    },
    () => undefined, // cancelled
  );
  const release = () => {
    if (!keepTimer?.(due - Date.now())) timer.cancel();
  };
  try {
    await condition(() => fired || fn());
  } catch (err) {
    // The caller's scope was cancelled: a shielded timer is the wait's to cancel (or keep).
    if (keepTimer && !fired) release();
    throw err;
  }
  if (fired) return false;
  release();
  return true;
}

/**
 * A timer due within this of the task that would cancel it is left to run out instead. Its
 * firing may already be on its way: Temporal's time-skipping test server fires a timer while a
 * workflow task is running (time runs on while it is locked), then rejects that task's
 * CancelTimer ("invalid history builder state for action") and stops, its clock locked for good.
 * Histories of the workflow tests had cancels 36 ms before the timer was due. A real server
 * drops the buffered firing instead; letting the timer fire costs it one task that changes
 * nothing, and only in the rare wait that ends this close to its timer.
 */
export const CANCEL_MARGIN_MS = 500;
/** Timers due within CANCEL_MARGIN_MS run out; runs recorded before cancel them as they did. */
export const TIMERS_CLEAR_OF_FIRING_PATCH = 'timers-clear-of-firing';

/**
 * For `keepTimer`: true for a timer due within CANCEL_MARGIN_MS (or overdue), in runs that take
 * the patch. `applied` is the run's `patched`; it is asked only then, so a run writes the marker
 * the first time it keeps a timer.
 */
export const keepsTimerDueSoon =
  (applied: (patchId: string) => boolean) =>
  (leftMs: number): boolean =>
    dueSoon(leftMs) && applied(TIMERS_CLEAR_OF_FIRING_PATCH);

/** Whether a timer with `leftMs` to go is too close to its firing to cancel (CANCEL_MARGIN_MS). */
export const dueSoon = (leftMs: number): boolean => leftMs <= CANCEL_MARGIN_MS;
