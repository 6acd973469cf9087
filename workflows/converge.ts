// How a workflow drives a safety action (rollback, retirement, switch-back) to its end: each
// activity call gives up soon, so the loop around it can report and escalate, and the loop
// itself never gives up; between two failing rounds it backs off.
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';

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
