// The release train boards the releases of one departure in parallel, on Temporal's
// time-skipping server: the train's departures of a round are scheduled together (one workflow
// task), within its concurrency, one release per service, in train order; a refusal gives its
// slot to the next in line at once. The train's finder asks the releases this file started
// (the time-skipping server has no visibility listing); each release's deployment fails at
// once (a listener that does not exist), so only boarding is measured.
import { describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import { deploymentId } from '../../src/domain/deployment';
import { releaseId, type GateSpec, type TrainSpec } from '../../src/domain/release';
import type { DeploymentSpec } from '../../src/domain/types';
import { releaseStatusQuery, trainStatusQuery, type Boarding, type ReleaseInput, type ReleaseStatus, type TrainStatus, type WaitingRelease } from '../../workflows/messages';
import { routerOfMetrics } from '../harness/stack';
import { appMetrics, healthy } from '../harness/app-metrics';
import { replayAll } from '../harness/history';
import { PROD_TRAIN } from '../harness/fixtures';
import { until } from '../harness/wait';
import { useTimeSkippingSandbox } from '../harness/time-skipping';

const TRAIN: TrainSpec = { ...PROD_TRAIN, windowSeconds: 3600, concurrency: 4, order: ['alpha', 'bravo', 'charlie', 'delta'] };
/** A gate that waits for the train alone: its release is ready as soon as it opens. */
const TRAIN_ONLY: GateSpec = { checks: [], approvals: [], stabilitySeconds: 0, train: 'prod', expirySeconds: 72 * 3600 };

describe('the release train boards in parallel (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox();
  /** Every release a test started (and what it deploys): the train's finder asks each of them. */
  const releases = new Map<string, { h: WorkflowHandle; service: string; version: string }>();
  /** Releases the finder lists though they do not wait (a search that is behind): they refuse. */
  const stale = new Set<string>();
  /** Releases whose worker is away: the finder lists them as they last said, without asking. */
  const parked = new Map<string, WaitingRelease>();
  /** Trains a test started. */
  const trains = new Set<string>();
  let taskQueue = '';
  let tests = 0;

  const statusOf = (h: WorkflowHandle): Promise<ReleaseStatus> => h.query(releaseStatusQuery);

  async function waitingFor(environment: string): Promise<WaitingRelease[]> {
    const found: WaitingRelease[] = [];
    for (const { h } of releases.values()) {
      const last = parked.get(h.workflowId);
      if (last) {
        found.push(last);
        continue;
      }
      const s = await statusOf(h);
      const waits = s.phase === 'waiting_for_train' || stale.has(s.id);
      if (s.outcome === null && waits && s.environment === environment) found.push({ id: s.id, service: s.service, startedAt: s.startedAt });
    }
    return found;
  }

  async function running(): Promise<string[]> {
    const ids: string[] = [];
    for (const { h } of releases.values()) if ((await h.describe()).status.name === 'RUNNING') ids.push(h.workflowId);
    return ids;
  }

  /** A Baton worker on `queue` while `fn` runs. */
  function workerOn<T>(queue: string, fn: () => Promise<T>): Promise<T> {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);
    return sb.withWorker(metrics, fn, { findWaitingReleases: waitingFor, runningReleases: running, freezes: [] }, queue);
  }

  /** Runs `fn` on a worker of its own task queue; whatever the test started and still runs is then terminated. */
  async function withWorker<T>(fn: () => Promise<T>): Promise<T> {
    taskQueue = `${sb.files.taskQueue}-boarding-${++tests}`;
    return workerOn(taskQueue, async () => {
      try {
        return await fn();
      } finally {
        await stopLeftovers();
      }
    });
  }

  async function stopLeftovers(): Promise<void> {
    const ids = new Set(trains);
    for (const [id, r] of releases) ids.add(id).add(deploymentId(r.service, 'prod', r.version)).add(`lane:${r.service}:prod`);
    for (const id of ids) {
      const h = sb.env.client.workflow.getHandle(id);
      if ((await h.describe().catch(() => null))?.status.name === 'RUNNING') await h.terminate('the test has ended').catch(() => undefined);
    }
    releases.clear();
    stale.clear();
    parked.clear();
    trains.clear();
  }

  /** web's prod deployment renamed to `service`, behind a listener that does not exist: it fails at once. */
  function failingAtOnce(service: string, version: string): DeploymentSpec {
    const s = buildDeploymentSpec(sb.files.config, { service: 'web', environment: 'prod', version, requestedBy: 'dev' });
    if (s.traffic.type !== 'alb') throw new Error('web is behind an ALB in the sandbox');
    return { ...s, service, id: deploymentId(service, 'prod', version), traffic: { ...s.traffic, listenerArn: `${s.traffic.listenerArn}-gone` } };
  }

  async function startRelease(service: string, version: string, train: TrainSpec, gate: GateSpec = TRAIN_ONLY, queue = taskQueue): Promise<WorkflowHandle> {
    const input: ReleaseInput = {
      id: releaseId(service, version),
      request: { service, version, hotfix: false, requestedBy: 'dev' },
      stages: [{ environment: 'prod', gate, train, deployment: failingAtOnce(service, version) }],
      freezes: [],
      hotfixApprovalRole: null,
      notify: sb.files.config.notifications,
    };
    const h = await sb.env.client.workflow.start('release', { workflowId: input.id, taskQueue: queue, args: [input] });
    releases.set(input.id, { h, service, version });
    return h;
  }

  async function readyReleases(train: TrainSpec, ...named: Array<[string, string]>): Promise<WorkflowHandle[]> {
    const hs: WorkflowHandle[] = [];
    for (const [service, version] of named) hs.push(await startRelease(service, version, train));
    for (const h of hs) await until(`${h.workflowId} to wait for the train`, () => statusOf(h), (s) => s.phase === 'waiting_for_train', 20_000);
    return hs;
  }

  /** Triggers a departure by hand (it departs now), polling every half hour. */
  async function depart(train: TrainSpec, id: string): Promise<WorkflowHandle<() => Promise<TrainStatus>>> {
    trains.add(id);
    return sb.env.client.workflow.start('releaseTrain', { workflowId: id, taskQueue, args: [{ environment: 'prod', train, pollSeconds: 1800 }] });
  }

  /**
   * The train's boardings as they were issued: the releases of its departRelease activities,
   * grouped by the workflow task that scheduled them (one group a round), and whether the
   * train started a timer (waited to poll again) before each group.
   */
  async function departures(train: WorkflowHandle): Promise<Array<{ releases: string[]; afterTimer: boolean }>> {
    const events = (await train.fetchHistory()).events ?? [];
    const groups = new Map<number, { releases: string[]; afterTimer: boolean }>();
    let timers = 0;
    for (const e of events) {
      if (e.timerStartedEventAttributes) timers++;
      const a = e.activityTaskScheduledEventAttributes;
      if (a?.activityType?.name !== 'departRelease') continue;
      const task = Number(a.workflowTaskCompletedEventId);
      // Its first argument is the release's id.
      const release = JSON.parse(Buffer.from(a.input?.payloads?.[0]?.data ?? []).toString('utf8')) as string;
      const group = groups.get(task) ?? { releases: [], afterTimer: timers > 0 };
      group.releases.push(release);
      groups.set(task, group);
    }
    return [...groups.values()];
  }

  const pairs = (bs: Boarding[]) => bs.map((b) => [b.releaseId, b.state]);

  /** The most releases deploying at once, from the boardings in the order the train recorded them. */
  function mostInFlight(bs: Boarding[]): number {
    let now = 0;
    let most = 0;
    for (const b of bs) {
      if (b.state === 'departed') now++;
      if (b.state === 'live' || b.state === 'failed') now--;
      most = Math.max(most, now);
    }
    return most;
  }

  it('boards several ready releases of different services in one departure, their boardings issued together', async () => {
    await withWorker(async () => {
      const [alpha, bravo, charlie] = await readyReleases(TRAIN, ['charlie', '1.0.0'], ['alpha', '1.0.0'], ['bravo', '1.0.0']).then(([c, a, b]) => [a, b, c]);
      const train = await depart(TRAIN, 'train-prod-boarding-1');
      const report = await train.result();
      const inOrder = [alpha.workflowId, bravo.workflowId, charlie.workflowId];
      expect(report.boardings.filter((b) => b.state === 'departed').map((b) => b.releaseId)).toEqual(inOrder);
      expect(report.boardings.filter((b) => b.state === 'failed').map((b) => b.releaseId).sort()).toEqual([...inOrder].sort());
      // One round: the three departures were scheduled by one workflow task, in train order.
      expect(await departures(train)).toEqual([{ releases: inOrder, afterTimer: false }]);
      for (const h of [alpha, bravo, charlie]) expect((await statusOf(h)).environments[0].gate?.boarded?.trainId).toBe('train-prod-boarding-1');
      await replayAll(train);
    });
  }, 180_000);

  it('counts the reports of releases that failed before their round\'s answers were all in, and leaves once all have settled', async () => {
    await withWorker(async () => {
      // alpha, first in line, runs on a task queue with no worker until after departure (the
      // finder lists it all the same): its boarding is answered only once a worker is there.
      // bravo and charlie board meanwhile, fail at once and report to the train before the
      // round's answers are all in.
      const away = `${taskQueue}-away`;
      const alpha = await startRelease('alpha', '5.0.0', TRAIN, TRAIN_ONLY, away);
      parked.set(alpha.workflowId, { id: alpha.workflowId, service: 'alpha', startedAt: new Date(await sb.env.currentTimeMs()).toISOString() });
      const [bravo, charlie] = await readyReleases(TRAIN, ['bravo', '5.0.0'], ['charlie', '5.0.0']);
      const train = await depart(TRAIN, 'train-prod-boarding-5');
      for (const h of [bravo, charlie]) await until(`${h.workflowId} to fail`, () => h.describe(), (d) => d.status.name === 'FAILED', 30_000);
      // Their reports came while the round waited for alpha's answer: nothing is recorded yet.
      expect((await train.query(trainStatusQuery)).boardings).toEqual([]);
      const report = await workerOn(away, () => train.result());
      const ids = [alpha.workflowId, bravo.workflowId, charlie.workflowId];
      expect(await departures(train)).toEqual([{ releases: ids, afterTimer: false }]);
      // In train order; a report that came early is recorded right after its boarding. alpha
      // boards in its first workflow task (its handlers are there before anything can miss them).
      expect(pairs(report.boardings)).toEqual([
        [alpha.workflowId, 'departed'],
        [bravo.workflowId, 'departed'],
        [bravo.workflowId, 'failed'],
        [charlie.workflowId, 'departed'],
        [charlie.workflowId, 'failed'],
        [alpha.workflowId, 'failed'],
      ]);
      // Every report counted: it left before it would have looked again (30 min), not at the window's end.
      expect(Date.parse(report.endedAt as string) - Date.parse(report.departure)).toBeLessThan(1800_000);
      await replayAll(train);
    });
  }, 180_000);

  it('keeps to its concurrency: with 2 of 4 it boards two, then the others as those settle', async () => {
    const train2: TrainSpec = { ...TRAIN, concurrency: 2 };
    await withWorker(async () => {
      const hs = await readyReleases(train2, ['alpha', '2.0.0'], ['bravo', '2.0.0'], ['charlie', '2.0.0'], ['delta', '2.0.0']);
      const train = await depart(train2, 'train-prod-boarding-2');
      const report = await train.result();
      const ids = hs.map((h) => h.workflowId);
      expect(report.boardings.filter((b) => b.state === 'departed').map((b) => b.releaseId)).toEqual(ids);
      expect(report.boardings.filter((b) => b.state === 'failed')).toHaveLength(4);
      expect(mostInFlight(report.boardings)).toBe(2);
      // The first round is the first two together; the others depart only after a report.
      const rounds = await departures(train);
      expect(rounds[0]).toEqual({ releases: ids.slice(0, 2), afterTimer: false });
      expect(rounds.slice(1).flatMap((r) => r.releases)).toEqual(ids.slice(2));
      const firstSettled = report.boardings.findIndex((b) => b.state === 'failed');
      const thirdDeparted = report.boardings.findIndex((b) => b.releaseId === ids[2] && b.state === 'departed');
      expect(thirdDeparted).toBeGreaterThan(firstSettled);
      await replayAll(train);
    });
  }, 180_000);

  it('boards one release per service: a second one of a service is refused as before, in train order', async () => {
    await withWorker(async () => {
      const [older, newer, bravo] = await readyReleases(TRAIN, ['alpha', '3.0.0'], ['alpha', '3.1.0'], ['bravo', '3.0.0']);
      const train = await depart(TRAIN, 'train-prod-boarding-3');
      const report = await train.result();
      expect(pairs(report.boardings.filter((b) => b.state === 'departed' || b.state === 'refused'))).toEqual([
        [older.workflowId, 'departed'],
        [newer.workflowId, 'refused'],
        [bravo.workflowId, 'departed'],
      ]);
      expect(report.boardings.find((b) => b.releaseId === newer.workflowId)?.message).toBe(`another release of alpha (${older.workflowId}) boards this train; this one waits for the next`);
      expect(await departures(train)).toEqual([{ releases: [older.workflowId, bravo.workflowId], afterTimer: false }]);
      expect((await statusOf(newer)).phase).toBe('waiting_for_train');
      await replayAll(train);
    });
  }, 180_000);

  it('gives a refused release\'s slot to the next in line in the same boarding, not a poll later', async () => {
    const train1: TrainSpec = { ...TRAIN, concurrency: 1 };
    await withWorker(async () => {
      // alpha is first in line, but not ready (its check is missing) though the finder lists it.
      const alpha = await startRelease('alpha', '4.0.0', train1, { ...TRAIN_ONLY, checks: ['ci'] });
      await until('alpha\'s gate to open', () => statusOf(alpha), (s) => s.phase === 'gate_open', 20_000);
      stale.add(alpha.workflowId);
      const [bravo] = await readyReleases(train1, ['bravo', '4.0.0']);
      const train = await depart(train1, 'train-prod-boarding-4');
      const report = await train.result();
      expect(pairs(report.boardings.slice(0, 2))).toEqual([[alpha.workflowId, 'refused'], [bravo.workflowId, 'departed']]);
      expect(report.boardings[0].message).toMatch(/^not ready for the prod train: .*ci/);
      // Refused once, however often the train looked again.
      expect(report.boardings.filter((b) => b.releaseId === alpha.workflowId)).toHaveLength(1);
      expect(Date.parse(report.boardings[1].at) - Date.parse(report.departure)).toBeLessThan(60_000);
      const rounds = await departures(train);
      expect(rounds.slice(0, 2)).toEqual([{ releases: [alpha.workflowId], afterTimer: false }, { releases: [bravo.workflowId], afterTimer: false }]);
      expect((await statusOf(alpha)).environments[0].gate?.boarded ?? null).toBeNull();
      await replayAll(train);
    });
  }, 180_000);
});
