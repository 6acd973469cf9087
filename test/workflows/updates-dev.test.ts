// Updates that race a running workflow, on the real dev server: a rollback or a release cancel
// sent the moment the run has started, and a pause sent while a deployment continues as new
// (its soak continues as new every few samples). Each is accepted, and each takes effect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import { buildReleaseInput } from '../../src/temporal/releases';
import type { ActionRequest } from '../../src/domain/deployment';
import { deploymentActionUpdate, deploymentStatusQuery, releaseCancelUpdate, releaseStatusQuery } from '../../workflows/messages';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';
import { replayAll, runIdsOf, scheduled, allFacts } from '../harness/history';

describe('Updates racing a running workflow (dev server)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      feeder: true,
      plan: { steps: [{ shift: 10 }, { soak: '40s' }, { shift: 100 }], analysis: { interval: '1s', window: '3s', inconclusiveLimit: 40 }, keepPreviousFor: '2s', standbyFor: '2s' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const action = (a: ActionRequest['action']): ActionRequest => ({ action: a, reason: 'test', actor: 'rosa' });
  const weightsOf = (service: string, environment: string) => stack.providers.routerFor(stack.config.services[service].environments[environment].traffic).getWeights();

  it('rolls back on a rollback sent the moment the deployment has started', async () => {
    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'dev', version: '5.0.0', requestedBy: 'ada' });
    const handle = await stack.client.workflow.start('deployment', { workflowId: spec.id, taskQueue: stack.taskQueue, args: [{ spec }] });
    const accepted = await handle.executeUpdate(deploymentActionUpdate, { args: [action('rollback')] });
    expect(accepted.rollback?.requestedBy).toBe('rosa');
    await handle.result().catch(() => undefined);
    const done = await handle.query(deploymentStatusQuery);
    expect(done.outcome).toBe('rolled_back');
    expect(scheduled(await allFacts(handle), 'shiftTraffic').filter((f) => !/Roll back/.test(f.summary ?? ''))).toHaveLength(0);
    expect(await weightsOf('web', 'dev')).toEqual({ blue: 100, green: 0 });
    await replayAll(handle);
  });

  it('cancels a release on a cancel sent the moment it has started: nothing is deployed', async () => {
    const input = buildReleaseInput(stack.config, { service: 'api', version: '5.1.0', requestedBy: 'dev' });
    const handle = await stack.client.workflow.start('release', { workflowId: input.id, taskQueue: stack.taskQueue, args: [input] });
    await handle.executeUpdate(releaseCancelUpdate, { args: [{ reason: 'wrong build', by: 'rosa' }] });
    await handle.result().catch(() => undefined);
    const done = await handle.query(releaseStatusQuery);
    expect(done).toMatchObject({ outcome: 'cancelled', reason: 'cancelled by rosa: wrong build' });
    // dev has no gate: at most its deployment started, and then it was cancelled and rolled back.
    const dev = done.environments[0].deployment;
    if (dev) expect(dev.outcome).toBe('cancelled');
    expect(await weightsOf('api', 'dev')).toEqual({ blue: 100, green: 0 });
    await replayAll(handle);
  });

  it('takes a pause sent while the deployment continues as new, keeping the soak time left and listing it, then a resume and a rollback', async () => {
    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'staging', version: '5.2.0', requestedBy: 'ada' });
    // A small history bound: the soak continues as new every few samples.
    const handle = await stack.client.workflow.start('deployment', { workflowId: spec.id, taskQueue: stack.taskQueue, args: [{ spec, maxHistoryEvents: 100 }] });
    const first = (await handle.describe()).runId;
    // Right at the boundary: the newest run may not have run its first task yet.
    await until('a continue-as-new', async () => (await handle.describe()).runId, (runId) => runId !== first, 60_000);
    const paused = await handle.executeUpdate(deploymentActionUpdate, { args: [action('pause')] });
    expect(paused.paused).toBe(true);
    const left = paused.soak?.remainingSeconds ?? 0;
    expect(left).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 5000));
    const held = await handle.query(deploymentStatusQuery);
    expect(held.phase).toBe('paused');
    expect(held.soak?.remainingSeconds).toBe(left);
    // Listed at once: BatonPhase = 'paused' finds it, and a resume lists the soak again.
    expect((await handle.describe()).searchAttributes.BatonPhase).toEqual(['paused']);
    await handle.executeUpdate(deploymentActionUpdate, { args: [action('resume')] });
    expect((await handle.describe()).searchAttributes.BatonPhase).toEqual(['soaking']);
    await handle.executeUpdate(deploymentActionUpdate, { args: [action('rollback')] });
    await handle.result().catch(() => undefined);
    expect((await handle.query(deploymentStatusQuery)).outcome).toBe('rolled_back');
    expect(await weightsOf('web', 'staging')).toEqual({ blue: 100, green: 0 });
    expect((await runIdsOf(handle)).length).toBeGreaterThanOrEqual(2);
    await replayAll(handle);
  });
});
