/**
 * One departure of an environment's release train, started by its Temporal Schedule
 * (`train-<environment>`) or by hand (trigger).
 *
 * While the departure's window is open it boards the releases that are ready for it (found by
 * their search attributes), at most `concurrency` deploying at a time and in the configured
 * service order, and reports how each one's deployment ended. A release that is not ready, or
 * not yet found, when the window closes waits for the next train (it says so in its status).
 *
 * Invariants: boarding is an Update the release validates, so a release that stopped being
 * ready between the search and the boarding refuses and nothing changes; the train never
 * deploys anything itself; cancelling the train stops boarding but does not touch releases
 * already boarded (their deployments run to the end, or roll back on their own).
 */
import { proxyActivities, setCurrentDetails, setHandler, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { formatInZone } from '../src/domain/calendar';
import { trainStatusQuery, type Boarding, type TrainInput, type TrainStatus, type WaitingRelease } from './messages';

const act = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumInterval: '30s', maximumAttempts: 10 } });

const DEFAULT_POLL_SECONDS = 30;

export async function releaseTrain({ environment, train, pollSeconds }: TrainInput): Promise<TrainStatus> {
  const departureMs = Date.now();
  const windowEndsMs = departureMs + train.windowSeconds * 1000;
  const departure = new Date(departureMs).toISOString();
  const boardings: Boarding[] = [];
  /** Boarded and still deploying here. */
  const inFlight = new Map<string, Boarding>();
  let done = false;

  const status = (): TrainStatus => ({ environment, departure, windowEndsAt: new Date(windowEndsMs).toISOString(), boardings, done });
  setHandler(trainStatusQuery, status);

  function record(b: Boarding): void {
    boardings.push(b);
    const lines = [`**Train to ${environment}** of ${formatInZone(departureMs, train.timeZone)} — ${done ? 'done' : `boarding until ${formatInZone(windowEndsMs, train.timeZone)}`}`];
    for (const x of boardings.slice(-20)) lines.push(`- ${x.releaseId}: ${x.state} — ${x.message}`);
    setCurrentDetails(lines.join('\n'));
  }

  /** Configured services first, in order; others after, oldest release first. */
  function byTrainOrder(a: WaitingRelease, b: WaitingRelease): number {
    const rank = (r: WaitingRelease) => (train.order.includes(r.service) ? train.order.indexOf(r.service) : train.order.length);
    return rank(a) - rank(b) || a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id);
  }

  const boardedIds = new Set<string>();
  /** Refusals are reported once; the train still tries again while its window is open. */
  const refusedIds = new Set<string>();
  let windowOpen = true;
  for (;;) {
    for (const [id, b] of inFlight) {
      const r = await act.releaseDeploymentOutcome(id, environment);
      if (r.outcome === null) continue;
      inFlight.delete(id);
      record({ ...b, state: r.outcome === 'succeeded' ? 'deployed' : 'failed', message: r.message, at: new Date(Date.now()).toISOString() });
    }
    if (windowOpen) {
      const waiting = (await act.findWaitingReleases(environment)).filter((r) => !boardedIds.has(r.id)).sort(byTrainOrder);
      for (const r of waiting.slice(0, Math.max(0, train.concurrency - inFlight.size))) {
        const answer = await act.departRelease(r.id, environment, departure);
        const at = new Date(Date.now()).toISOString();
        if (answer.accepted) {
          boardedIds.add(r.id);
          const b: Boarding = { releaseId: r.id, service: r.service, state: 'departed', message: `departed for ${environment}`, at };
          inFlight.set(r.id, b);
          record(b);
        } else if (!refusedIds.has(r.id)) {
          refusedIds.add(r.id);
          record({ releaseId: r.id, service: r.service, state: 'refused', message: answer.message, at });
        }
      }
    }
    if (!windowOpen && inFlight.size === 0) break;
    // Wake at the next poll, or when the window closes, whichever is first.
    const untilClose = windowEndsMs - Date.now();
    const pollMs = (pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
    if (windowOpen && untilClose <= pollMs) {
      await sleep(Math.max(1, untilClose));
      windowOpen = false; // decided by the timer that fired, not by reading the clock again
    } else {
      await sleep(pollMs);
    }
  }
  done = true;
  setCurrentDetails(`**Train to ${environment}** of ${formatInZone(departureMs, train.timeZone)} — done: ${boardings.filter((b) => b.state === 'deployed').length} deployed, ${boardings.filter((b) => b.state === 'failed').length} failed`);
  return status();
}
