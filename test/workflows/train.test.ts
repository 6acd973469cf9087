// A departure of the prod release train on the real dev server (visibility finds the waiting
// releases): it boards exactly the ready releases, one at a time and in the configured
// service order, and reports how each deployment ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import { releaseId, type GateSpec, type TrainSpec } from '../../src/domain/release';
import { deploymentStatusQuery, releaseCancelUpdate, releaseDepartUpdate, releaseStatusQuery, trainStatusQuery, type ReleaseInput, type ReleaseStatus, type TrainStatus } from '../../workflows/messages';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';
import { PROD_TRAIN } from '../harness/fixtures';

const train: TrainSpec = { ...PROD_TRAIN, windowSeconds: 45, concurrency: 1 };
const trainOnly: GateSpec = { checks: [], approvals: [], stabilitySeconds: 0, train: 'prod', expirySeconds: 3600 };

describe('a release train departure', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      feeder: true,
      plan: { steps: [{ shift: 50 }, { soak: '2s' }, { shift: 100 }], analysis: { interval: '1s', window: '3s' }, keepPreviousFor: '1s', standbyFor: '1s' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** A release straight to prod whose gate is `gate` (so it is ready for the train, or not). */
  async function startRelease(service: string, version: string, gate: GateSpec): Promise<WorkflowHandle> {
    const id = releaseId(service, version);
    const input: ReleaseInput = {
      id,
      request: { service, version, hotfix: false, requestedBy: 'ada' },
      stages: [{ environment: 'prod', gate, train: gate.train ? train : null, deployment: buildDeploymentSpec(stack.config, { service, environment: 'prod', version, requestedBy: 'ada' }) }],
      freezes: [],
      hotfixApprovalRole: null,
      notify: stack.config.notifications,
    };
    return stack.client.workflow.start('release', { workflowId: id, taskQueue: stack.taskQueue, args: [input] });
  }

  const statusOf = (h: WorkflowHandle) => h.query(releaseStatusQuery);

  it('boards exactly the ready releases, within its concurrency and in service order', async () => {
    const web = await startRelease('web', '4.0.0', trainOnly);
    const api = await startRelease('api', '4.0.0', trainOnly);
    const notReady = await startRelease('web', '4.1.0', { ...trainOnly, checks: ['ci'] });
    for (const h of [web, api]) await until('ready for the train', () => statusOf(h), (s: ReleaseStatus) => s.phase === 'waiting_for_train');
    expect((await statusOf(notReady)).phase).toBe('gate_open');
    // Visibility is eventually consistent: wait until both are findable, as the train will search.
    await until('both findable', async () => {
      const found: string[] = [];
      for await (const w of stack.client.workflow.list({ query: `BatonKind = 'release' AND BatonPhase = 'waiting_for_train' AND BatonEnvironment = 'prod' AND ExecutionStatus = 'Running'` })) found.push(w.workflowId);
      return found;
    }, (ids) => ids.length === 2);

    const departure = await stack.client.workflow.start('releaseTrain', { workflowId: 'train-prod-test', taskQueue: stack.taskQueue, args: [{ environment: 'prod', train, pollSeconds: 2 }] });

    // api goes first (configured order), alone (concurrency 1): web is still waiting.
    const first = await until('the first boarding', () => departure.query(trainStatusQuery), (t: TrainStatus) => t.boardings.length > 0);
    expect(first.boardings.map((b) => [b.releaseId, b.state])).toEqual([[api.workflowId, 'departed']]);
    expect((await statusOf(web)).phase).toBe('waiting_for_train');

    const report: TrainStatus = await departure.result();
    const byRelease = Object.fromEntries(report.boardings.filter((b) => b.state !== 'departed').map((b) => [b.releaseId, b.state]));
    expect(byRelease).toEqual({ [api.workflowId]: 'live', [web.workflowId]: 'live' });
    expect(report.boardings.filter((b) => b.state === 'departed').map((b) => b.releaseId)).toEqual([api.workflowId, web.workflowId]);

    for (const h of [web, api]) expect((await statusOf(h)).outcome).toBe('succeeded');
    // The release that was not ready was never boarded, and says it waits for the next train.
    const left = await statusOf(notReady);
    expect(report.boardings.some((b) => b.releaseId === notReady.workflowId)).toBe(false);
    expect(left.phase).toBe('gate_open');
    expect(left.environments[0].gate?.pending.join('; ')).toMatch(/ci/);
    await notReady.cancel();
  }, 240_000);

  it('boards one release per service, and a repeated boarding (a retried activity) gets its first answer', async () => {
    const older = await startRelease('web', '4.5.0', trainOnly);
    const newer = await startRelease('web', '4.6.0', trainOnly);
    for (const h of [older, newer]) await until('ready for the train', () => statusOf(h), (s: ReleaseStatus) => s.phase === 'waiting_for_train');
    await until('both findable', async () => {
      const found: string[] = [];
      for await (const w of stack.client.workflow.list({ query: `BatonKind = 'release' AND BatonPhase = 'waiting_for_train' AND BatonEnvironment = 'prod' AND ExecutionStatus = 'Running'` })) found.push(w.workflowId);
      return found;
    }, (ids) => ids.includes(older.workflowId) && ids.includes(newer.workflowId));

    const departure = await stack.client.workflow.start('releaseTrain', { workflowId: 'train-prod-test-2', taskQueue: stack.taskQueue, args: [{ environment: 'prod', train: { ...train, concurrency: 2 }, pollSeconds: 2 }] });
    const report: TrainStatus = await departure.result();
    // The older web release boards; the newer one is told why not, and waits for the next train.
    expect(report.boardings.filter((b) => b.state === 'departed').map((b) => b.releaseId)).toEqual([older.workflowId]);
    expect(report.boardings.find((b) => b.releaseId === newer.workflowId)?.message).toBe(`another release of web (${older.workflowId}) boards this train; this one waits for the next`);
    expect((await statusOf(newer)).phase).toBe('waiting_for_train');

    // The same boarding sent again with the same id (as a retried activity does) is answered as the first was.
    const again = await stack.client.workflow.getHandle(older.workflowId).executeUpdate(releaseDepartUpdate, {
      args: [{ environment: 'prod', departure: report.departure, trainId: 'train-prod-test-2', freezes: [] }],
      updateId: `depart:train-prod-test-2:${older.workflowId}`,
    }).catch((err: Error) => err);
    expect(again).not.toBeInstanceOf(Error);
    await newer.cancel();
  }, 240_000);

  it('rolls the prod deployment back when its release is cancelled in the middle of it', async () => {
    const router = stack.providers.routerFor(stack.config.services.web.environments.prod.traffic);
    const before = await router.getWeights();
    const release = await startRelease('web', '4.2.0', { ...trainOnly, train: null });
    const deployment = stack.client.workflow.getHandle('deploy:web:prod:4.2.0');
    await until('the prod deployment to soak', () => deployment.query(deploymentStatusQuery), (d) => d.phase === 'soaking', 60_000);

    await release.executeUpdate(releaseCancelUpdate, { args: [{ reason: 'bad build', by: 'rosa' }] });
    await release.result().catch(() => undefined);
    const done = await statusOf(release);
    expect(done).toMatchObject({ outcome: 'cancelled', reason: 'cancelled by rosa: bad build' });
    expect(done.environments[0].deployment).toMatchObject({ outcome: 'cancelled' });
    expect((await deployment.query(deploymentStatusQuery)).timeline.map((e) => e.type)).toContain('traffic_restored');
    expect(await router.getWeights()).toEqual(before);
  });
});
