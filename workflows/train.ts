/**
 * One departure of an environment's release train, started by its Temporal Schedule
 * (`train-<environment>`) or by hand (trigger).
 *
 * At departure it reads the freezes: a departure inside a freeze of its environment boards
 * nothing, and says so. Otherwise, while its window is open, it boards the releases that are
 * ready for it (found by their search attributes), at most `concurrency` deploying at a time,
 * at most one release per service, in the configured service order. Each boarded release
 * reports back when its deployment is live or has failed. The run ends when everything it
 * boarded is live (or failed) and no release is left waiting, or when its window closes,
 * whichever comes first: it never waits for a deployment's tail, so the next departure never
 * finds it still running.
 *
 * Invariants: boarding is an Update (with an id, so a retried activity gets its first
 * answer) that the release validates at that moment, with the freezes the train knows of, so
 * a release that stopped being ready refuses and nothing changes; the train never deploys
 * anything itself; cancelling the train stops boarding but does not touch releases already
 * boarded (their deployments run on, or roll back on their own). History stays small: the
 * train waits on reports, and looks for newly ready releases only every `pollSeconds`.
 */
import { condition, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { currentDeparture, formatInZone, formatUtc } from '../src/domain/calendar';
import { activeFreeze } from '../src/domain/gates';
import { trainReportSignal, trainStatusQuery, type Boarding, type TrainInput, type TrainReport, type TrainStatus, type WaitingRelease } from './messages';

const act = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumInterval: '30s', maximumAttempts: 10 } });

const DEFAULT_POLL_SECONDS = 300;

export async function releaseTrain({ environment, train, pollSeconds }: TrainInput): Promise<TrainStatus> {
  // A scheduled departure's calendar instant (the run starts a moment later); a trigger's, now.
  const departureMs = currentDeparture(train, Date.now()) ?? Date.now();
  const windowEndsMs = departureMs + train.windowSeconds * 1000;
  const departure = new Date(departureMs).toISOString();
  const trainId = workflowInfo().workflowId;
  const boardings: Boarding[] = [];
  /** Boarded here, by release id: still deploying until it reports. */
  const boarded = new Map<string, { service: string; settled: boolean }>();
  let frozen: string | null = null;
  let done = false;
  let endedAt: string | null = null;
  let reports = 0;

  const status = (): TrainStatus => ({ environment, departure, windowEndsAt: new Date(windowEndsMs).toISOString(), boardings, frozen, done, endedAt });
  setHandler(trainStatusQuery, status);
  setHandler(trainReportSignal, (r: TrainReport) => {
    const b = boarded.get(r.releaseId);
    if (!b || b.settled) return;
    b.settled = true;
    record({ releaseId: r.releaseId, service: b.service, state: r.state, message: r.message, at: new Date(Date.now()).toISOString() });
    reports++;
  });

  function refreshDetails(): void {
    const head = `**Train to ${environment}** of ${formatInZone(departureMs, train.timeZone)} — ${done ? 'done' : `boarding until ${formatInZone(windowEndsMs, train.timeZone)}`}`;
    const lines = [head, ...(frozen ? [`- ${frozen}`] : []), ...boardings.slice(-20).map((x) => `- ${x.releaseId}: ${x.state} — ${x.message}`)];
    setCurrentDetails(lines.join('\n'));
  }

  function record(b: Boarding): void {
    boardings.push(b);
    refreshDetails();
  }

  /** Configured services first, in order; others after, oldest release first. */
  function byTrainOrder(a: WaitingRelease, b: WaitingRelease): number {
    const rank = (r: WaitingRelease) => (train.order.includes(r.service) ? train.order.indexOf(r.service) : train.order.length);
    return rank(a) - rank(b) || a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id);
  }

  /** Refusals are reported once; the train still tries again while its window is open. */
  const told = new Set<string>();
  function once(key: string, b: Boarding): void {
    if (told.has(key)) return;
    told.add(key);
    record(b);
  }

  /** Boards what is ready now; returns how many releases still wait for this train. */
  async function board(): Promise<number> {
    const { freezes } = await act.currentFreezes();
    const at = () => new Date(Date.now()).toISOString();
    const freeze = activeFreeze(freezes, environment, Date.now());
    const waiting = (await act.findWaitingReleases(environment)).filter((r) => !boarded.has(r.id)).sort(byTrainOrder);
    if (freeze) {
      for (const r of waiting) once(`frozen:${r.id}`, { releaseId: r.id, service: r.service, state: 'refused', message: `${environment} is frozen until ${formatUtc(Date.parse(freeze.to))}: ${freeze.reason}`, at: at() });
      return waiting.length;
    }
    const services = new Set([...boarded.values()].map((b) => b.service));
    let left = 0;
    for (const r of waiting) {
      const inFlight = [...boarded.values()].filter((b) => !b.settled).length;
      if (services.has(r.service)) {
        // One release per service per train: the service's lane deploys one version at a time.
        const first = [...boarded.entries()].find(([, b]) => b.service === r.service)?.[0];
        once(`service:${r.id}`, { releaseId: r.id, service: r.service, state: 'refused', message: `another release of ${r.service} (${first}) boards this train; this one waits for the next`, at: at() });
        continue;
      }
      if (inFlight >= train.concurrency) {
        left++;
        continue;
      }
      const answer = await act.departRelease(r.id, environment, departure, trainId, freezes);
      if (answer.accepted) {
        boarded.set(r.id, { service: r.service, settled: false });
        services.add(r.service);
        record({ releaseId: r.id, service: r.service, state: 'departed', message: `departed for ${environment}`, at: at() });
      } else {
        left++;
        once(`refused:${r.id}:${answer.message}`, { releaseId: r.id, service: r.service, state: 'refused', message: answer.message, at: at() });
      }
    }
    return left;
  }

  // At departure: a freeze of this environment holds the whole departure.
  const { freezes } = await act.currentFreezes();
  const freeze = activeFreeze(freezes, environment, departureMs);
  if (freeze) {
    frozen = `departure inside a freeze of ${environment} (until ${formatUtc(Date.parse(freeze.to))}: ${freeze.reason}): boards nothing`;
  } else {
    const pollMs = (pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
    for (;;) {
      const waiting = await board();
      const allSettled = [...boarded.values()].every((b) => b.settled);
      // Everything it carries is live (or failed), and nobody else waits on the platform: leave.
      if (boarded.size > 0 && allSettled && waiting === 0) break;
      const untilClose = windowEndsMs - Date.now();
      const seen = reports;
      const reported = await condition(() => reports !== seen, Math.max(1, Math.min(pollMs, untilClose)));
      // The timer that fired decides, never the clock: the window closed, or it is time to look again.
      if (!reported && untilClose <= pollMs) break;
    }
  }
  done = true;
  endedAt = new Date(Date.now()).toISOString();
  // Releases that become ready now wait for the next departure, and say so.
  if (Date.now() < windowEndsMs) await act.announceTrainLeft(environment, departure);
  const count = (state: Boarding['state']) => boardings.filter((b) => b.state === state).length;
  setCurrentDetails(
    `**Train to ${environment}** of ${formatInZone(departureMs, train.timeZone)} — done: ${frozen ?? `${count('departed')} boarded, ${count('live')} live, ${count('failed')} failed`}`,
  );
  return status();
}
