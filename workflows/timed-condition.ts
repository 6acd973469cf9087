// A timed wait in fewer promises. The SDK's promise hook records a source-mapped stack for every
// promise a workflow makes (for the stack-trace query); in a deployment's workflow tasks it was
// about half of the worker's time (BENCHMARKS.md, overhead).
import { CancellationScope, condition, sleep } from '@temporalio/workflow';

/**
 * `condition(fn, ms, {summary})` in about half its promises: true when `fn` held first, false
 * when the timer fired. The same commands: the timer starts at once and is cancelled when `fn`
 * ends the wait (unless `keepTimer()`: it is left to run out). A cancelled scope ends the wait
 * with CancelledFailure, as condition does. Where the waiting coroutine resumes differs from
 * condition (fewer promise steps), and with it possibly the order of a task's commands: a run
 * recorded with `condition` goes on with `condition` (a patch).
 */
export async function timedCondition(fn: () => boolean, ms: number, opts: { summary?: string; keepTimer?: () => boolean } = {}): Promise<boolean> {
  const timer = new CancellationScope();
  let fired = false;
  void timer.run(() => sleep(ms, opts.summary ? { summary: opts.summary } : undefined)).then(
    () => {
      fired = true;
    },
    () => undefined, // cancelled
  );
  await condition(() => fired || fn());
  if (fired) return false;
  if (!opts.keepTimer?.()) timer.cancel();
  return true;
}
