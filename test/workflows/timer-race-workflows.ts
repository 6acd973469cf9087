// Workflows for timer-race.test.ts: a wait whose timer is due `leftMs` after another timer that
// ends it, in a workflow task slow enough for a timer due 5 ms later to fire while it runs.
import { CancellationScope, condition, sleep } from '@temporalio/workflow';

/** Deterministic work that takes the worker a while (a workflow task's clock does not move). */
function spin(iterations: number): number {
  let x = 0;
  for (let i = 0; i < iterations; i++) x = (x + i) % 1_000_003;
  return x;
}

/** The wait's timer is cancelled as soon as the first timer has fired and the slow task has run. */
export async function endsWaitBeforeFiring(leftMs: number, iterations: number): Promise<string> {
  let first = false;
  void sleep(1_000).then(() => {
    spin(iterations);
    first = true;
  });
  const woken = await CancellationScope.cancellable(() => condition(() => first, 1_000 + leftMs));
  await sleep(10);
  return woken ? 'ended by the first timer' : 'ended by its own timer';
}
