/**
 * One departure of an environment's release train, started by its Temporal Schedule
 * (`train-<environment>`) or by hand (trigger).
 *
 * At departure it reads the freezes: a departure inside a freeze of its environment boards
 * nothing, and says so. Otherwise, while its window is open, it boards the releases that are
 * ready for it (found by their search attributes), at most `concurrency` deploying at a time,
 * at most one release per service, in the configured service order. The boardings of one
 * round are sent together and their answers recorded in that order; a refusal gives its slot
 * to the next in line in the same look (a run recorded before that boards one at a time,
 * `patched('train-parallel-boarding')`). Each boarded release
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
import { condition, patched, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { currentDeparture, formatInZone, formatUtc } from '../src/domain/calendar';
import { activeFreeze } from '../src/domain/gates';
import type { Freeze } from '../src/domain/release';
import { trainReportSignal, trainStatusQuery, type Boarding, type TrainInput, type TrainReport, type TrainStatus, type WaitingRelease } from './messages';

const act = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumInterval: '30s', maximumAttempts: 10 } });

const DEFAULT_POLL_SECONDS = 300;
/** Runs recorded before it boarded one release at a time: they replay that way. */
const PARALLEL_BOARDING_PATCH = 'train-parallel-boarding';

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
  /**
   * Releases whose boarding is being asked in a round, and the reports some of them sent
   * before the round's answers were recorded (a release that boards and fails at once reports
   * while the others of its round are still answering): held until its boarding is recorded.
   */
  const asking = new Set<string>();
  const early = new Map<string, TrainReport>();

  const status = (): TrainStatus => ({ environment, departure, windowEndsAt: new Date(windowEndsMs).toISOString(), boardings, frozen, done, endedAt });
  setHandler(trainStatusQuery, status);
  setHandler(trainReportSignal, (r: TrainReport) => {
    const b = boarded.get(r.releaseId);
    if (!b && asking.has(r.releaseId)) early.set(r.releaseId, r);
    if (!b || b.settled) return;
    settle(r, b);
  });

  function settle(r: TrainReport, b: { service: string; settled: boolean }): void {
    b.settled = true;
    record({ releaseId: r.releaseId, service: b.service, state: r.state, message: r.message, at: new Date(Date.now()).toISOString() });
    reports++;
  }

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

  const at = () => new Date(Date.now()).toISOString();
  const inFlight = () => [...boarded.values()].filter((b) => !b.settled).length;
  /** The release of `service` this train boarded, if any. */
  const boardedOf = (service: string) => [...boarded.entries()].find(([, b]) => b.service === service)?.[0];

  function departed(r: WaitingRelease): { service: string; settled: boolean } {
    const b = { service: r.service, settled: false };
    boarded.set(r.id, b);
    record({ releaseId: r.id, service: r.service, state: 'departed', message: `departed for ${environment}`, at: at() });
    return b;
  }
  const refusedBy = (r: WaitingRelease, message: string) => once(`refused:${r.id}:${message}`, { releaseId: r.id, service: r.service, state: 'refused', message, at: at() });
  /** One release per service per train: the service's lane deploys one version at a time. */
  const secondOfService = (r: WaitingRelease, first: string) =>
    once(`service:${r.id}`, { releaseId: r.id, service: r.service, state: 'refused', message: `another release of ${r.service} (${first}) boards this train; this one waits for the next`, at: at() });

  /** Boards what is ready now; returns how many releases still wait for this train. */
  async function board(): Promise<number> {
    const { freezes } = await act.currentFreezes();
    const freeze = activeFreeze(freezes, environment, Date.now());
    const waiting = (await act.findWaitingReleases(environment)).filter((r) => !boarded.has(r.id)).sort(byTrainOrder);
    if (freeze) {
      for (const r of waiting) once(`frozen:${r.id}`, { releaseId: r.id, service: r.service, state: 'refused', message: `${environment} is frozen until ${formatUtc(Date.parse(freeze.to))}: ${freeze.reason}`, at: at() });
      return waiting.length;
    }
    if (patched(PARALLEL_BOARDING_PATCH)) return boardInRounds(waiting, freezes);
    // Runs recorded before parallel boarding: one release at a time.
    let left = 0;
    for (const r of waiting) {
      const first = boardedOf(r.service);
      if (first !== undefined) {
        secondOfService(r, first);
        continue;
      }
      if (inFlight() >= train.concurrency) {
        left++;
        continue;
      }
      const answer = await act.departRelease(r.id, environment, departure, trainId, freezes);
      if (answer.accepted) departed(r);
      else {
        left++;
        refusedBy(r, answer.message);
      }
    }
    return left;
  }

  /**
   * Boards `waiting` (in train order) by the rules of the one-at-a-time loop, a round at a
   * time: a round picks what that loop would board if every boarding were accepted (a service
   * already boarded is refused; a second release of a service picked in this round waits for
   * its answer; no more in flight than `concurrency`, the picked ones counted), departs them
   * together, then records every answer and refusal in train order. A refusal (or a report)
   * that frees a slot starts another round at once: the slot goes to the next in line, as the
   * loop gave it. Each release is asked at most once per call. Returns how many still wait
   * (refused by the release, or no slot for them), as the loop counted them.
   */
  async function boardInRounds(waiting: WaitingRelease[], freezes: Freeze[]): Promise<number> {
    let pending = waiting;
    let refused = 0;
    for (;;) {
      const picked = new Map<string, WaitingRelease>();
      let free = train.concurrency - inFlight();
      for (const r of pending) {
        if (free <= 0) break;
        if (picked.has(r.service) || boardedOf(r.service) !== undefined) continue;
        picked.set(r.service, r);
        free--;
      }
      const departing = [...picked.values()];
      for (const r of departing) asking.add(r.id);
      // Settled one by one: an activity that fails for good fails the train as before, once
      // the answers of the others are recorded.
      const answers = departing.length ? await Promise.allSettled(departing.map((r) => act.departRelease(r.id, environment, departure, trainId, freezes))) : [];
      const answerOf = new Map(departing.map((r, i) => [r.id, answers[i]]));
      const next: WaitingRelease[] = [];
      let failure: unknown = null;
      for (const r of pending) {
        const answer = answerOf.get(r.id);
        if (answer?.status === 'rejected') {
          failure ??= answer.reason;
        } else if (answer?.value.accepted) {
          const b = departed(r);
          const report = early.get(r.id);
          if (report) settle(report, b);
        } else if (answer) {
          refused++;
          refusedBy(r, answer.value.message);
        } else {
          const first = boardedOf(r.service);
          if (first === undefined) next.push(r);
          else secondOfService(r, first);
        }
      }
      for (const r of departing) {
        asking.delete(r.id);
        early.delete(r.id);
      }
      if (failure !== null) throw failure;
      pending = next;
      if (departing.length === 0 || pending.length === 0 || inFlight() >= train.concurrency) return refused + pending.length;
    }
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
