// Releases on the production calendar, on Temporal's time-skipping server: the Tuesday 10:00
// America/Los_Angeles train, a 72 h expiry, freezes, a week-long tail. The real release train
// workflow departs at each departure (the test starts it, as the Schedule would: the
// time-skipping server has no Schedules), finding waiting releases through a finder that asks
// each release the test started (it has no visibility listing either).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import { resolveConfig } from '../../src/config';
import { nextDepartures } from '../../src/domain/calendar';
import { deploymentId } from '../../src/domain/deployment';
import { releaseId, trainRunId, type Freeze, type GateSpec, type TrainSpec } from '../../src/domain/release';
import type { DeploymentSpec, RolloutPlan } from '../../src/domain/types';
import type { NotifySpec } from '../../src/domain/notices';
import {
  deploymentActionUpdate,
  deploymentStatusQuery,
  releaseApprovalUpdate,
  releaseCancelUpdate,
  releaseCheckUpdate,
  releaseStatusQuery,
  type ReleaseInput,
  type ReleaseStage,
  type ReleaseStatus,
  type TrainStatus,
  type WaitingRelease,
} from '../../workflows/messages';
import { routerOfMetrics } from '../harness/stack';
import { appMetrics, healthy } from '../harness/app-metrics';
import { historyFacts, replayAll } from '../harness/history';
import { PROD_TRAIN } from '../harness/fixtures';
import { executeUpdateOnce, until } from '../harness/wait';
import { EXAMPLE_PLANS, useTimeSkippingSandbox } from '../harness/time-skipping';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
// The week's sweep runs on a server of its own: it starts hundreds of runs, and one still
// running when it ends would hold the Java test server's clock for the tests after it.
for (const part of ['the week sweep', 'freezes, stability and trains'] as const) {
describe(`releases on the production calendar (time-skipping server): ${part}`, () => {
  const sweepOnly = part === 'the week sweep';
  /** Registers a test in its part only. */
  const test = (sweep: boolean): typeof it => (sweep === sweepOnly ? it : ((() => undefined) as unknown as typeof it));
  let production: RolloutPlan;
  /** Every release the tests start: the train's finder asks each of them. */
  const releases = new Map<string, WorkflowHandle>();

  const sb = useTimeSkippingSandbox();

  beforeAll(async () => {
    const doc = parseYaml(readFileSync(sb.files.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    production = resolveConfig({ ...doc, plans: { ...doc.plans, production: EXAMPLE_PLANS.production } }).plans.production;
  });

  async function statusOf(h: WorkflowHandle): Promise<ReleaseStatus> {
    return h.query(releaseStatusQuery);
  }

  /** The train's finder: the releases started here that wait for this environment's train. */
  async function waitingFor(environment: string): Promise<WaitingRelease[]> {
    const found: WaitingRelease[] = [];
    for (const h of releases.values()) {
      const s = await statusOf(h);
      if (s.outcome === null && s.phase === 'waiting_for_train' && s.environment === environment) found.push({ id: s.id, service: s.service, startedAt: s.startedAt });
    }
    return found;
  }

  async function running(): Promise<string[]> {
    const ids: string[] = [];
    for (const h of releases.values()) if ((await statusOf(h)).outcome === null) ids.push(h.workflowId);
    return ids;
  }

  /** Workflows a test started besides its releases (trains). */
  const others = new Set<string>();

  /** Each test's worker polls a task queue of its own: no task of a run a stopped worker had cached is routed to it. */
  let taskQueue = '';
  let tests = 0;

  async function withWorker<T>(freezes: Freeze[], fn: () => Promise<T>): Promise<T> {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);
    taskQueue = `${sb.files.taskQueue}-${++tests}`;
    // Inside the worker's run: a closed run's status query needs a worker to answer it.
    const run = async () => {
      try {
        return await fn();
      } finally {
        await stopLeftovers();
      }
    };
    return sb.withWorker(metrics, run, { findWaitingReleases: waitingFor, runningReleases: running, freezes }, taskQueue);
  }

  /**
   * A test that failed half-way leaves runs behind; with no worker to run them they would hold
   * the next test's clock. Every run a test started (releases, their lanes and deployments,
   * trains) that still runs is terminated.
   */
  async function stopLeftovers(): Promise<void> {
    const ids = new Set(others);
    for (const h of releases.values()) {
      ids.add(h.workflowId);
      const s = await statusOf(h).catch(() => null);
      for (const e of s?.environments ?? []) {
        if (!e.deployment) continue;
        ids.add(e.deployment.id);
        const [, service, environment] = e.deployment.id.split(':');
        ids.add(`lane:${service}:${environment}`);
      }
    }
    for (const id of ids) {
      const h = sb.env.client.workflow.getHandle(id);
      if ((await h.describe().catch(() => null))?.status.name === 'RUNNING') await h.terminate('the test has ended').catch(() => undefined);
    }
    releases.clear();
    others.clear();
  }

  function stage(environment: string, gate: GateSpec | null, deployment: DeploymentSpec, train: TrainSpec | null = null): ReleaseStage {
    return { environment, gate, train: gate?.train ? (train ?? PROD_TRAIN) : null, deployment };
  }

  async function startRelease(service: string, version: string, stages: ReleaseStage[], freezes: Freeze[] = [], notify: NotifySpec = sb.files.config.notifications): Promise<WorkflowHandle> {
    const input: ReleaseInput = {
      id: releaseId(service, version),
      request: { service, version, hotfix: false, requestedBy: 'dev' },
      stages,
      freezes,
      hotfixApprovalRole: null,
      notify,
    };
    const h = await sb.env.client.workflow.start('release', { workflowId: input.id, taskQueue, args: [input] });
    releases.set(input.id, h);
    return h;
  }

  const spec = (service: string, environment: string, version: string) => buildDeploymentSpec(sb.files.config, { service, environment, version, requestedBy: 'dev' });

  /** Departs the real train at `departureMs` (time skips there), as the Schedule would start it. */
  async function depart(departureMs: number, train: TrainSpec = PROD_TRAIN, pollSeconds = 1800): Promise<WorkflowHandle<() => Promise<TrainStatus>>> {
    const now = await sb.env.currentTimeMs();
    if (departureMs > now) await sb.env.sleep(departureMs - now);
    others.add(trainRunId('prod', departureMs));
    return sb.env.client.workflow.start('releaseTrain', { workflowId: trainRunId('prod', departureMs), taskQueue, args: [{ environment: 'prod', train, pollSeconds }] });
  }

  async function sleepUntil(ms: number): Promise<void> {
    const now = await sb.env.currentTimeMs();
    if (ms > now) await sb.env.sleep(ms - now);
  }

  const satisfy = async (h: WorkflowHandle, environment = 'prod'): Promise<ReleaseStatus> => {
    await executeUpdateOnce(h, releaseCheckUpdate, [{ name: 'ci', status: 'passed', by: 'ci-bot' }]);
    return executeUpdateOnce(h, releaseApprovalUpdate, [{ environment, decision: 'approve', by: 'quinn', roles: ['qa'], comment: null }]);
  };

  /** Lets every deployment a release started run its tail to the end (time skips), so nothing is left running. */
  async function tailsFinished(h: WorkflowHandle): Promise<void> {
    for (const e of (await statusOf(h)).environments) if (e.deployment) await settled(sb.env.client.workflow.getHandle(e.deployment.id));
  }

  /**
   * Waits for a run to end. Asks first: waiting on one that has ended would let the test
   * server skip time to its next timer of any kind (an ended run's execution timeout, ten years on).
   */
  async function settled(h: WorkflowHandle): Promise<void> {
    if ((await h.describe()).status.name === 'RUNNING') await h.result().catch(() => undefined);
  }

  /** A release through staging (the production plan) into prod, whose gate wants `stabilitySeconds` of staging live. */
  async function stagingThenProd(service: string, version: string, stabilitySeconds: number): Promise<{ h: WorkflowHandle; staging: DeploymentSpec }> {
    const staging = { ...spec(service, 'staging', version), plan: production };
    const stability: GateSpec = { checks: [], approvals: [], stabilitySeconds, train: null, expirySeconds: 72 * 3600 };
    const h = await startRelease(service, version, [stage('staging', null, staging), stage('prod', stability, spec(service, 'prod', version))]);
    return { h, staging };
  }

  /** Skips time `step` at a time (at most 100 steps) until the release's status satisfies `ok`. */
  async function skipUntil(h: WorkflowHandle, step: Duration, ok: (s: ReleaseStatus) => boolean): Promise<ReleaseStatus> {
    let s = await statusOf(h);
    for (let i = 0; i < 100 && !ok(s); i++) {
      await sb.env.sleep(step);
      s = await statusOf(h);
    }
    return s;
  }

  const PROD_GATE: GateSpec = { checks: ['ci'], approvals: [{ role: 'qa', count: 1 }], stabilitySeconds: 0, train: 'prod', expirySeconds: 72 * 3600 };

  test(true)('leaves on the next departure, whichever of the 168 hours of the week its gate is satisfied, and says which beforehand', async () => {
    // Every ready release departs at once (the question here is when, not how many), and each
    // release's deployment stops at once (a listener that does not exist): only boarding is measured.
    const train: TrainSpec = { ...PROD_TRAIN, concurrency: 500 };
    // Slack's pace is slowed for these runs (a minute between updates of a run's message, not
    // the sandbox's 5 s) to avoid a defect of Temporal's Java time-skipping test server, not of
    // Baton: a workflow task that cancels a timer while that timer fires is refused ("invalid
    // history builder state for action") after being half applied, and the run never takes
    // another task (an Update to it is never answered, its parent waits for ever). The departure
    // after next boards a hundred-odd releases at once; their deployments fail together within
    // seconds, and each deployment and release, on that failure, cancels its Slack pump's wait
    // for the next update of its message (started as it started deploying) to send the outcome
    // at once: with the sandbox's 5 s, on a worker that many runs load, just as the wait runs
    // out. A minute's wait is cancelled long before it ends; when each release boards, what is
    // measured here, does not depend on Slack's pace.
    const notify: NotifySpec = { ...sb.files.config.notifications, updateEverySeconds: 60 };
    const unreachable = (h: number): DeploymentSpec => {
      const s = spec('web', 'prod', `8.${h}.0`);
      const service = `sweep${h}`;
      if (s.traffic.type !== 'alb') throw new Error('web is behind an ALB in the sandbox');
      return { ...s, service, id: deploymentId(service, 'prod', s.version), traffic: { ...s.traffic, listenerArn: `${s.traffic.listenerArn}-gone` }, notify };
    };
    await withWorker([], async () => {
      const [d0, d1] = nextDepartures(train, await sb.env.currentTimeMs(), 2);
      const sweep: Array<{ h: number; handle: WorkflowHandle; satisfiedAt: number; promised: string | null }> = [];
      const trains: Array<WorkflowHandle<() => Promise<TrainStatus>>> = [];
      // Half an hour at a time from the first departure to the one after next.
      for (let slot = d0; slot <= d1 + 5 * HOUR; slot += HOUR / 2) {
        await sleepUntil(slot);
        if (slot === d0 || slot === d1) trains.push(await depart(slot, train));
        const h = Math.floor((slot - d0) / HOUR);
        if (h >= 168) continue;
        if ((slot - d0) % HOUR === 0) {
          // Release h opens its gate on the hour, and is satisfied half an hour later.
          await startRelease(`sweep${h}`, `8.${h}.0`, [stage('prod', PROD_GATE, unreachable(h), train)], [], notify);
        } else {
          const handle = releases.get(releaseId(`sweep${h}`, `8.${h}.0`)) as WorkflowHandle;
          await satisfy(handle);
          const satisfiedAt = await sb.env.currentTimeMs();
          // What the release says it waits for, once it has settled into waiting for the train.
          const waiting = await until(`${handle.workflowId} to wait for the train`, () => statusOf(handle), (st) => st.phase === 'waiting_for_train' || st.outcome !== null, 20_000);
          sweep.push({ h, handle, satisfiedAt, promised: waiting.environments[0].gate?.train?.nextDeparture ?? null });
        }
      }
      const reports = await Promise.all(trains.map((t) => t.result()));
      const firstEnded = Date.parse(reports[0].endedAt as string);
      const misses: string[] = [];
      for (const r of sweep) {
        const s = await statusOf(r.handle);
        const boarded = s.environments[0].gate?.boarded?.departure ?? null;
        // The first train leaves once what it carries is live (here: has failed at once) and
        // nobody else waits: a release satisfied after that waits for the next departure.
        const want = r.satisfiedAt < firstEnded && r.satisfiedAt < d0 + train.windowSeconds * 1000 ? d0 : d1;
        const expired = s.timeline.some((e) => e.type === 'expired');
        if (boarded !== iso(want) || r.promised !== iso(want) || expired) {
          misses.push(`hour ${r.h} (satisfied ${iso(r.satisfiedAt)}): promised ${r.promised}, boarded ${boarded}, wanted ${iso(want)}${expired ? ', EXPIRED' : ''}`);
        }
      }
      expect(misses).toEqual([]);
      expect(sweep).toHaveLength(168);
      // Nothing left running; and a sample of the histories replays.
      for (const r of sweep) await settled(r.handle);
      for (const r of [sweep[0], sweep[50], sweep[167]]) await replayAll(r.handle);
      for (const t of trains) await replayAll(t);
    });
  }, 600_000);

  test(false)('holds boarding during a freeze that starts after the gate was satisfied: the departure inside it boards nothing, and the next one does', async () => {
    // The first departure at least a day ahead: the release starts 21 h before it, whatever the
    // hour of the week the test runs at (the next one can be minutes away).
    const probe = nextDepartures(PROD_TRAIN, (await sb.env.currentTimeMs()) + DAY, 1)[0];
    const freeze: Freeze = { id: 'config-1', from: iso(probe - 14 * HOUR), to: iso(probe + 14 * HOUR), environments: ['prod'], reason: 'Change freeze', source: 'config' };
    await withWorker([freeze], async () => {
      await sleepUntil(probe - 21 * HOUR);
      const h = await startRelease('web', '9.0.0', [stage('prod', PROD_GATE, spec('web', 'prod', '9.0.0'))], [freeze]);
      await sleepUntil(probe - 20 * HOUR);
      await satisfy(h);
      const ready = await until('waiting for the train', () => statusOf(h), (st) => st.phase === 'waiting_for_train', 20_000);
      expect(ready.environments[0].gate?.train?.nextDeparture).toBe(iso(probe + 7 * DAY)); // the one inside the freeze is skipped
      // The freeze starts: the release notices at that instant (a timer), and its expiry stays held.
      await sleepUntil(probe - 14 * HOUR + 60_000);
      const frozen = await statusOf(h);
      expect(frozen.phase).toBe('gate_open');
      expect(frozen.environments[0].gate).toMatchObject({ state: 'satisfied', expiresAt: null });
      expect(frozen.environments[0].gate?.pending.join('; ')).toMatch(/frozen until .*Change freeze/);
      expect(frozen.timeline.map((e) => e.type)).toContain('frozen');

      const inside = await (await depart(probe)).result();
      expect(inside.frozen).toMatch(/departure inside a freeze of prod .*Change freeze.*boards nothing/);
      expect(inside.boardings).toEqual([]);
      expect((await statusOf(h)).environments[0].deployment).toBeNull();

      const next = await depart(probe + 7 * DAY);
      const report = await next.result();
      expect(report.boardings.map((b) => [b.releaseId, b.state])).toEqual([[h.workflowId, 'departed'], [h.workflowId, 'live']]);
      await h.result();
      const done = await statusOf(h);
      expect(done.outcome).toBe('succeeded');
      expect(done.timeline.some((e) => e.type === 'expired')).toBe(false);
      await tailsFinished(h);
      await replayAll(h);
    });
  }, 300_000);

  test(false)('never expires a gate during a freeze longer than its expiry, satisfied or not', async () => {
    const d = nextDepartures(PROD_TRAIN, (await sb.env.currentTimeMs()) + 3 * DAY, 1)[0];
    // Six days of freeze, from two days before a departure to four days after.
    const freeze: Freeze = { id: 'config-1', from: iso(d - 2 * DAY), to: iso(d + 4 * DAY), environments: ['prod'], reason: 'Year-end freeze', source: 'config' };
    await withWorker([freeze], async () => {
      // Both gates open 12 h before the freeze; one is satisfied at once, the other only 12 h after it.
      await sleepUntil(d - 2 * DAY - 12 * HOUR);
      const satisfied = await startRelease('web', '9.1.0', [stage('prod', PROD_GATE, spec('web', 'prod', '9.1.0'))], [freeze]);
      const unsatisfied = await startRelease('api', '9.1.0', [stage('prod', PROD_GATE, spec('api', 'prod', '9.1.0'))], [freeze]);
      await satisfy(satisfied);
      await sleepUntil(d + 4 * DAY + 12 * HOUR);
      expect((await statusOf(unsatisfied)).outcome).toBeNull();
      expect((await statusOf(satisfied)).outcome).toBeNull();
      // The check's answer is the gate as of this moment: 12 h counted before the freeze, 12 h
      // after it, 48 of 72 h left (without the freeze it would have expired days ago).
      const held = await executeUpdateOnce(unsatisfied, releaseCheckUpdate, [{ name: 'ci', status: 'passed', by: 'ci-bot' }]);
      const left = held.environments[0].gate?.expiryLeftSeconds ?? 0;
      expect(left).toBeGreaterThan(48 * 3600 - 120);
      expect(left).toBeLessThanOrEqual(48 * 3600 + 1);
      await satisfy(unsatisfied);
      const next = await (await depart(d + 7 * DAY)).result();
      expect(next.boardings.filter((b) => b.state === 'live').map((b) => b.releaseId).sort()).toEqual([unsatisfied.workflowId, satisfied.workflowId].sort());
      for (const h of [satisfied, unsatisfied]) {
        await h.result();
        expect((await statusOf(h)).outcome).toBe('succeeded');
        await tailsFinished(h);
        await replayAll(h);
      }
    });
  }, 300_000);

  test(false)('opens the prod gate at staging live + stability, while staging\'s tail still runs', async () => {
    await withWorker([], async () => {
      const { h, staging } = await stagingThenProd('web', '9.2.0', 3600);
      const s = await skipUntil(h, '10m', (st) => Boolean(st.environments[1].gate?.openedAt));
      const liveAt = Date.parse(s.environments[0].deployment?.liveAt as string);
      const openedAt = Date.parse(s.environments[1].gate?.openedAt as string);
      expect(openedAt - liveAt).toBeGreaterThanOrEqual(HOUR);
      expect(openedAt - liveAt).toBeLessThan(HOUR + 60_000);
      // Staging's deployment is still in its tail (1 h keep, then 24 h standby).
      const stagingDeployment = await sb.env.client.workflow.getHandle(staging.id).query(deploymentStatusQuery);
      expect(stagingDeployment.outcome).toBeNull();
      expect(stagingDeployment.tail).not.toBeNull();
      await h.result();
      expect((await statusOf(h)).outcome).toBe('succeeded');
      await tailsFinished(h);
      await replayAll(h);
    });
  }, 300_000);

  test(false)('restarts the stability clock when the version is rolled back in the previous environment after the release moved on', async () => {
    await withWorker([], async () => {
      const { h, staging } = await stagingThenProd('api', '9.4.0', 2 * 3600);
      const s = await skipUntil(h, '5m', (st) => Boolean(st.environments[0].deployment?.live));
      expect(s.environments[1].gate?.state).toBe('waiting');
      // Half an hour into staging's keep, someone rolls staging back.
      await sb.env.sleep('30m');
      const deployment = sb.env.client.workflow.getHandle(staging.id);
      await executeUpdateOnce(deployment, deploymentActionUpdate, [{ action: 'rollback', reason: 'bad canary in staging', actor: 'rosa' }]);
      await settled(deployment);
      const lost = await until('the release to hear of it', () => statusOf(h), (st) => st.timeline.some((e) => e.type === 'no_longer_live'), 20_000);
      expect(lost.environments[0].deployment).toMatchObject({ live: false });
      expect(lost.environments[1].gate?.state).toBe('waiting');
      expect(lost.environments[1].gate?.pending).toEqual(['waiting for the version to be live in staging, then 2h of stability there']);
      // Well past the two hours: the gate has not opened, and nothing went to prod.
      await sb.env.sleep('4h');
      const still = await statusOf(h);
      expect(still.environments[1].gate?.openedAt).toBeNull();
      expect(still.environments[1].deployment).toBeNull();
      await executeUpdateOnce(h, releaseCancelUpdate, [{ reason: 'staging was rolled back', by: 'rosa' }]);
      await settled(h);
      await replayAll(h);
    });
  }, 300_000);

  test(false)('ends the train within its window once its two releases are live on the production plan, its history small', async () => {
    await withWorker([], async () => {
      const d = nextDepartures(PROD_TRAIN, (await sb.env.currentTimeMs()) + HOUR, 1)[0];
      const prod = (service: string) => ({ ...spec(service, 'prod', '9.3.0'), plan: production });
      const web = await startRelease('web', '9.3.0', [stage('prod', PROD_GATE, prod('web'))]);
      const api = await startRelease('api', '9.3.0', [stage('prod', PROD_GATE, prod('api'))]);
      for (const h of [web, api]) await satisfy(h);
      const train = await depart(d, PROD_TRAIN, 300);
      const report = await train.result();
      expect(report.boardings.filter((b) => b.state === 'live').map((b) => b.service).sort()).toEqual(['api', 'web']);
      expect(Date.parse(report.endedAt as string)).toBeLessThan(Date.parse(report.windowEndsAt));
      const facts = await historyFacts(train);
      expect(facts.length).toBeLessThan(2000);
      console.log(`train of two releases on the production plan: ${facts.length} history events, ended ${Math.round((Date.parse(report.endedAt as string) - d) / 60_000)} min after departure`);
      // Each release ended when prod was live, not after its deployment's 25-hour tail.
      for (const h of [web, api]) {
        await h.result();
        const s = await statusOf(h);
        expect(Date.parse(s.endedAt as string) - Date.parse(s.environments[0].deployment?.liveAt as string)).toBeLessThan(5 * 60_000);
        await tailsFinished(h);
        await replayAll(h);
      }
      await replayAll(train);
    });
  }, 300_000);
});
}
