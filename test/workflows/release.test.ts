// A release dev → staging → prod with the production rules and their real durations, on the
// time-skipping server: checks, QA sign-off and product approval, a week of stability in
// staging, then the wait for Tuesday's 10:00 America/Los_Angeles train. The time-skipping
// server has no visibility listing, so the test boards the release itself, as the train
// would (test/workflows/train.test.ts covers the train on the dev server).
import { describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import { releaseId, type GateSpec } from '../../src/domain/release';
import {
  releaseApprovalUpdate,
  releaseCheckUpdate,
  releaseDepartUpdate,
  releaseStatusQuery,
  type ReleaseInput,
  type ReleaseStatus,
} from '../../workflows/messages';
import { routerOfMetrics } from '../harness/stack';
import { appMetrics, healthy } from '../harness/app-metrics';
import { PROD_TRAIN } from '../harness/fixtures';
import { useTimeSkippingSandbox } from '../harness/time-skipping';
import { CANCEL_MARGIN_MS, cancelsNearFiring, factsOf } from '../harness/history';
import { laneId } from '../../src/domain/deployment';

const DAY = 24 * 3600;
const prodTrain = PROD_TRAIN;
const stagingGate: GateSpec = { checks: ['ci'], approvals: [{ role: 'qa', count: 1 }], stabilitySeconds: 0, train: null, expirySeconds: 3 * DAY };
const prodGate: GateSpec = {
  checks: ['ci', 'security-scan'],
  approvals: [
    { role: 'qa', count: 1 },
    { role: 'product', count: 1 },
  ],
  stabilitySeconds: 7 * DAY,
  train: 'prod',
  expirySeconds: 3 * DAY,
};

describe('a release with the production rules (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox();

  function input(service: string, version: string): ReleaseInput {
    const stage = (environment: string, gate: GateSpec | null) => ({
      environment,
      gate,
      train: gate?.train ? prodTrain : null,
      deployment: buildDeploymentSpec(sb.files.config, { service, environment, version, requestedBy: 'rita' }),
    });
    return {
      id: releaseId(service, version),
      request: { service, version, hotfix: false, requestedBy: 'rita' },
      stages: [stage('dev', null), stage('staging', stagingGate), stage('prod', prodGate)],
      freezes: [],
      hotfixApprovalRole: null,
      notify: sb.files.config.notifications,
    };
  }

  /**
   * A release ends when its last environment is live; its deployments' tails run on. A test
   * lets them finish (time skips) before it stops its worker, so nothing it started is left.
   */
  async function tailsFinished(handle: WorkflowHandle): Promise<void> {
    const { environments } = await handle.query(releaseStatusQuery);
    for (const e of environments) if (e.deployment) await sb.env.client.workflow.getHandle(e.deployment.id).result().catch(() => undefined);
  }

  /** Lets workflow time run (in steps, so activities get to run) until `ok` holds. */
  async function skipUntil(handle: WorkflowHandle, what: string, step: Duration, ok: (s: ReleaseStatus) => boolean, maxSteps = 400): Promise<ReleaseStatus> {
    for (let i = 0; i < maxSteps; i++) {
      const s = await handle.query(releaseStatusQuery);
      if (ok(s)) return s;
      if (s.outcome) throw new Error(`release ended (${s.outcome}: ${s.reason}) while waiting for ${what}`);
      await sb.env.sleep(step);
    }
    throw new Error(`${what} did not happen`);
  }

  it('goes dev → staging → prod through checks, approvals, a week of stability and the Tuesday train', async () => {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);
    await sb.withWorker(metrics, async () => {
      const handle = await sb.env.client.workflow.start('release', { workflowId: releaseId('web', '5.0.0'), taskQueue: sb.files.taskQueue, args: [input('web', '5.0.0')] });
      const check = (name: string) => handle.executeUpdate(releaseCheckUpdate, { args: [{ name, status: 'passed', url: `https://ci.example/${name}`, by: 'ci-bot' }] });
      const approve = (environment: string, by: string, role: string) =>
        handle.executeUpdate(releaseApprovalUpdate, { args: [{ environment, decision: 'approve', by, roles: [role], comment: `${role} sign-off` }] });

      // dev deploys at once; the staging gate waits for CI and QA.
      const atStaging = await skipUntil(handle, 'the staging gate', '10s', (s) => s.environments[1].gate?.state === 'open');
      expect(atStaging.environments[0].deployment?.outcome).toBe('succeeded');
      expect(atStaging.environments[1].gate?.pending.join('; ')).toMatch(/check 'ci'.*qa/s);
      await check('ci');
      await approve('staging', 'quinn', 'qa');

      // Staging deploys; the prod gate then waits a week of stability before it opens.
      const waiting = await skipUntil(handle, 'stability in staging', '10s', (s) => s.environments[1].deployment?.outcome === 'succeeded');
      expect(waiting.environments[2].gate?.state).toBe('waiting');
      expect(waiting.environments[2].gate?.pending[0]).toMatch(/of stability in staging/);
      const stagingLive = Date.parse(waiting.environments[1].deployment?.liveAt as string);
      await check('security-scan');
      const open = await skipUntil(handle, 'the prod gate', '12h', (s) => s.environments[2].gate?.state === 'open');
      const openedAt = Date.parse(open.environments[2].gate?.openedAt as string);
      expect(openedAt - stagingLive).toBeGreaterThanOrEqual(7 * DAY * 1000);
      expect(openedAt - stagingLive).toBeLessThan(7 * DAY * 1000 + 60_000);

      await approve('prod', 'quinn', 'qa');
      await approve('prod', 'pat', 'product');
      const ready = await skipUntil(handle, 'ready for the train', '1s', (s) => s.phase === 'waiting_for_train');
      const next = Date.parse(ready.environments[2].gate?.train?.nextDeparture as string);
      const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
      expect(local).toBe('Tue 10:00');
      expect([17, 18]).toContain(new Date(next).getUTCHours());
      expect(ready.environments[2].gate?.pending.join('; ')).toMatch(/next train Tue 10:00 P[SD]T/);

      // Nothing moves before the train; at the departure it boards and prod deploys.
      await sb.env.sleep(next - (await sb.env.currentTimeMs()) + 1000);
      expect((await handle.query(releaseStatusQuery)).phase).toBe('waiting_for_train');
      await handle.executeUpdate(releaseDepartUpdate, { args: [{ environment: 'prod', departure: new Date(next).toISOString(), trainId: 'train-prod-test' }] });
      await handle.result();
      await tailsFinished(handle);
      const done = await handle.query(releaseStatusQuery);
      expect(done.outcome).toBe('succeeded');
      expect(done.environments.map((e) => e.deployment?.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      expect(Date.parse(done.environments[2].deployment?.liveAt as string)).toBeGreaterThanOrEqual(next);
      expect(done.environments[2].gate?.approvals.map((a) => [a.by, a.roles[0]])).toEqual([['quinn', 'qa'], ['pat', 'product']]);
      expect(await sb.aws.providers.routerFor(sb.files.config.services.web.environments.prod.traffic).getWeights()).toEqual({ blue: 0, green: 100 });
      // No lane's check is due just as a milestone cancels it (CHECK_OFFSET_MS, workflows/lane.ts).
      for (const environment of ['dev', 'staging', 'prod']) {
        const lane = factsOf(await sb.env.client.workflow.getHandle(laneId('web', environment)).fetchHistory());
        expect(cancelsNearFiring(lane, CANCEL_MARGIN_MS)).toEqual([]);
      }
    });
  }, 300_000);

  it('holds a gate through a freeze and goes on when the freeze ends', async () => {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);
    await sb.withWorker(metrics, async () => {
      const now = await sb.env.currentTimeMs();
      const freeze = { from: new Date(now - 3600_000).toISOString(), to: new Date(now + 2 * DAY * 1000).toISOString(), environments: ['prod'], reason: 'holiday freeze' };
      const gate: GateSpec = { checks: [], approvals: [], stabilitySeconds: 0, train: null, expirySeconds: 3 * DAY };
      const id = releaseId('api', '6.0.0');
      const handle = await sb.env.client.workflow.start('release', {
        workflowId: id,
        taskQueue: sb.files.taskQueue,
        args: [{ ...input('api', '6.0.0'), stages: [{ environment: 'prod', gate, train: null, deployment: buildDeploymentSpec(sb.files.config, { service: 'api', environment: 'prod', version: '6.0.0', requestedBy: 'rita' }) }], freezes: [freeze] }],
      });

      const frozen = await skipUntil(handle, 'the frozen gate', '1s', (s) => (s.environments[0].gate?.pending ?? []).some((p) => p.startsWith('frozen until')));
      // Satisfied (nothing else is asked), held by the freeze: its expiry does not count.
      expect(frozen.environments[0].gate).toMatchObject({ state: 'satisfied', expiresAt: null });
      expect(frozen.environments[0].gate?.pending.join('; ')).toMatch(/frozen until .*holiday freeze/);
      await sb.env.sleep('1d');
      expect((await handle.query(releaseStatusQuery)).environments[0].deployment).toBeNull();

      await handle.result(); // the freeze ends after two days; then prod deploys
      await tailsFinished(handle);
      const done = await handle.query(releaseStatusQuery);
      expect(done.outcome).toBe('succeeded');
      expect(Date.parse(done.environments[0].deployment?.liveAt as string)).toBeGreaterThanOrEqual(Date.parse(freeze.to));
    });
  }, 300_000);

  it('lets a hotfix skip the week of stability only with the hotfix role\'s extra approval', async () => {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);
    await sb.withWorker(metrics, async () => {
      const base = input('api', '6.1.0');
      const noTrain: GateSpec = { ...prodGate, train: null };
      const stages = [base.stages[1], { ...base.stages[2], gate: noTrain, train: null }];
      const handle = await sb.env.client.workflow.start('release', {
        workflowId: base.id,
        taskQueue: sb.files.taskQueue,
        args: [{ ...base, request: { ...base.request, hotfix: true }, stages, hotfixApprovalRole: 'release-manager' }],
      });
      const approve = (environment: string, by: string, role: string) =>
        handle.executeUpdate(releaseApprovalUpdate, { args: [{ environment, decision: 'approve', by, roles: [role], comment: null }] });
      for (const name of ['ci', 'security-scan']) await handle.executeUpdate(releaseCheckUpdate, { args: [{ name, status: 'passed', by: 'ci-bot' }] });
      await skipUntil(handle, 'the staging gate', '1s', (s) => s.environments[0].gate?.state === 'open');
      await approve('staging', 'quinn', 'qa');

      // A hotfix's prod gate opens at once; QA and product alone do not waive the week.
      const open = await skipUntil(handle, 'the prod gate', '10s', (s) => s.environments[1].gate?.state === 'open');
      expect(open.hotfix).toBe(true);
      await approve('prod', 'quinn', 'qa');
      await approve('prod', 'pat', 'product');
      await sb.env.sleep('1h');
      const held = await handle.query(releaseStatusQuery);
      expect(held.environments[1].deployment).toBeNull();
      expect(held.environments[1].gate?.pending.join('; ')).toMatch(/stability in staging/);

      await approve('prod', 'rosa', 'release-manager');
      await handle.result();
      await tailsFinished(handle);
      const done = await handle.query(releaseStatusQuery);
      expect(done.outcome).toBe('succeeded');
      const stagingLive = Date.parse(done.environments[0].deployment?.liveAt as string);
      expect(Date.parse(done.environments[1].deployment?.liveAt as string) - stagingLive).toBeLessThan(DAY * 1000);
    });
  }, 300_000);
});
