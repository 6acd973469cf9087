// How a workflow drives a safety action (rollback, retirement, switch-back) to its end: each
// activity call gives up soon, so the loop around it can report and escalate, and the loop
// itself never gives up; between two failing rounds it backs off.
import { ActivityCancellationType, sleep, type ActivityOptions } from '@temporalio/workflow';
import { causeMessage } from '../src/domain/errors';

/** One call of a converging safety action: bounded, heartbeating, waited for when cancelled. */
export const CONVERGE: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

const BACKOFF_MS = [2_000, 5_000, 10_000, 30_000, 60_000];

/** The pause after the `round`-th failing round (0-based): growing, then steady at a minute. */
export function convergeBackoffMs(round: number): number {
  return BACKOFF_MS[Math.min(Math.max(0, round), BACKOFF_MS.length - 1)];
}

/** After this long failing, a converging action alerts the channel (and keeps trying). */
export const ESCALATE_AFTER_MS = 5 * 60_000;

/**
 * Runs `step` until it succeeds: each failing round is told (`retried`), and once it has failed
 * for ESCALATE_AFTER_MS, `stuck` is told once (an alert); the rounds are spaced by
 * convergeBackoffMs. Workflow time only.
 */
export async function untilConverged(what: string, step: () => Promise<void>, tell: { retried(message: string): void; stuck(message: string): void }): Promise<void> {
  const since = Date.now();
  let escalated = false;
  for (let round = 0; ; round++) {
    try {
      await step();
      return;
    } catch (err) {
      tell.retried(`${what} not done yet (round ${round + 1}): ${causeMessage(err)}; trying again`);
      if (!escalated && Date.now() - since >= ESCALATE_AFTER_MS) {
        escalated = true;
        tell.stuck(`${what} is STUCK and keeps trying. Last error: ${causeMessage(err)}`);
      }
      await sleep(convergeBackoffMs(round));
    }
  }
}
