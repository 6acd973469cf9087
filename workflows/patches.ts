// Patches, folded, and a wait with fewer promises: what a workflow task costs the worker.
//
// Each patch a run takes (`patched(id)` true) writes two events when it is first taken: the
// marker and the SDK's upsert of TemporalChangeVersion, each a command of the task it is in. A
// deployment took eleven, five of them in its first task. A fold is one patch that stands for
// a list of others: a run that takes it takes every patch in the list as applied, with no
// marker each. The list is fixed when the fold is written: a patch added later is not in it, so
// runs recorded with the fold replay the code they ran. Runs started before the fold (no fold
// marker) check each patch as they did.
//
// The SDK's promise hook records a source-mapped stack for every promise a workflow makes (for
// the stack-trace query); in a deployment it was about half of a workflow task's time in the
// worker. `timedCondition` waits as `condition(fn, ms)` does with about half its promises.
import { CancellationScope, condition, patched, sleep } from '@temporalio/workflow';

export interface Patches {
  /** Whether this run took the fold (every run started since it was written). */
  readonly folded: boolean;
  /** `patched(id)`, true without a marker for a patch the fold stands for. */
  applied(patchId: string): boolean;
}

/** Call once, where the run starts (its first workflow task), as every patch must be called at the same point on replay. */
export function foldPatches(foldId: string, folds: readonly string[]): Patches {
  const folded = patched(foldId);
  return { folded, applied: (id) => (folded && folds.includes(id)) || patched(id) };
}

/**
 * `condition(fn, ms, {summary})` in fewer promises: true when `fn` held first, false when the
 * timer fired. The same commands: the timer starts at once and is cancelled when `fn` ends the
 * wait (unless `keepTimer()`: it is left to run out). A cancelled scope ends the wait with
 * CancelledFailure, as condition does. Where the waiting coroutine resumes differs from
 * condition (fewer promise steps), and with it possibly the order of commands in a task: a
 * run recorded with `condition` replays with `condition`.
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
