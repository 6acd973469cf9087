// Workflows for timer-race.test.ts: a wait whose timer is due 5 ms after another timer that
// ends it, in a workflow task slow enough for the second timer to fire while it runs.
import { sleep } from '@temporalio/workflow';
import { dueSoon, timedCondition } from '../../workflows/timed-condition';

/** Deterministic work that takes the worker a while (a workflow task's clock does not move). */
function spin(iterations: number): number {
  let x = 0;
  for (let i = 0; i < iterations; i++) x = (x + i) % 1_000_003;
  return x;
}

/** `keep`: the wait's timer follows CANCEL_MARGIN_MS (keepTimer: dueSoon); otherwise it is cancelled, as condition's is. */
export async function endsWaitNearFiring(keep: boolean, iterations: number): Promise<string> {
  let first = false;
  void sleep(1_000).then(() => {
    spin(iterations);
    first = true;
  });
  const woken = await timedCondition(() => first, 1_005, keep ? { keepTimer: dueSoon } : {});
  await sleep(10);
  return woken ? 'ended by the first timer' : 'ended by its own timer';
}
