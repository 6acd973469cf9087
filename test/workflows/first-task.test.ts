// An Update can arrive at any moment: with the start (in the run's first workflow task) and
// in the first task of a run that continued as new. A validator that accepts it promises that
// the handler acts. Time-skipping server, real ECS/ALB in moto; Updates racing a running
// workflow (right after the start, at a real continue-as-new) are tested on the dev server
// (updates-dev.test.ts), whose Update handling the time-skipping server does not match.
import { describe, expect, it } from 'vitest';
import { WithStartWorkflowOperation, type WorkflowHandle } from '@temporalio/client';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import { buildReleaseInput } from '../../src/temporal/releases';
import type { ActionRequest, DeploymentStatus } from '../../src/domain/deployment';
import { startCountdown } from '../../src/domain/countdown';
import { initialRollout } from '../../src/domain/rollout';
import type { DeploymentSpec } from '../../src/domain/types';
import { deploymentActionUpdate, deploymentStatusQuery, releaseCancelUpdate, releaseStatusQuery } from '../../workflows/messages';
import type { DeploymentInput, DeploymentState } from '../../workflows/deployment';
import { routerOfMetrics } from '../harness/stack';
import { appMetrics, healthy } from '../harness/app-metrics';
import { allFacts, listedPhases, replayAll, scheduled } from '../harness/history';
import { useTimeSkippingSandbox } from '../harness/time-skipping';

const PLAN = {
  steps: [{ shift: 10 }, { soak: '30m' }, { shift: 100 }],
  analysis: { interval: '1m', window: '1m', failureLimit: 2, inconclusiveLimit: 5, lag: '0s' },
  keepPreviousFor: '10m',
  standbyFor: '10m',
  stableTimeout: '2m',
};

describe('Updates that arrive with the start, right after it, and at a continue-as-new boundary (time-skipping server)', () => {
  const sb = useTimeSkippingSandbox(PLAN);

  async function withWorker<T>(fn: () => Promise<T>): Promise<T> {
    const metrics = appMetrics(routerOfMetrics(sb.files.config, sb.aws.providers), () => healthy);
    return sb.withWorker(metrics, fn);
  }

  const spec = (service: string, environment: string, version: string): DeploymentSpec => buildDeploymentSpec(sb.files.config, { service, environment, version, requestedBy: 'ada' });
  const action = (a: ActionRequest['action']): ActionRequest => ({ action: a, reason: 'test', actor: 'rosa' });

  /** Starts a deployment with an Update that the server delivers in the run's first workflow task. */
  async function startWith(input: DeploymentInput, req: ActionRequest): Promise<{ handle: WorkflowHandle; accepted: DeploymentStatus }> {
    const start = new WithStartWorkflowOperation('deployment', { workflowId: input.spec.id, taskQueue: sb.files.taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL' });
    const accepted = await sb.env.client.workflow.executeUpdateWithStart(deploymentActionUpdate, { args: [req], startWorkflowOperation: start });
    return { handle: await start.workflowHandle(), accepted };
  }

  const weights = (s: DeploymentSpec) => sb.aws.providers.routerFor(s.traffic).getWeights();

  it('rolls back on a rollback sent with the start: nothing is deployed', async () => {
    await withWorker(async () => {
      const s = spec('web', 'dev', '4.0.0');
      const { handle, accepted } = await startWith({ spec: s }, action('rollback'));
      expect(accepted.rollback?.requestedBy).toBe('rosa');
      await handle.result().catch(() => undefined);
      const done = await handle.query(deploymentStatusQuery);
      expect(done.outcome).toBe('rolled_back');
      const facts = await allFacts(handle);
      expect(scheduled(facts, 'deployImage')).toHaveLength(0);
      expect(scheduled(facts, 'shiftTraffic')).toHaveLength(0);
      expect(await weights(s)).toEqual({ blue: 100, green: 0 });
      await replayAll(handle);
    });
  });

  it('holds the rollout on a pause sent with the start, and goes on when resumed', async () => {
    await withWorker(async () => {
      const s = spec('api', 'dev', '4.0.2');
      const { handle, accepted } = await startWith({ spec: s }, action('pause'));
      expect(accepted.paused).toBe(true);
      await sb.env.sleep('2h');
      const held = await handle.query(deploymentStatusQuery);
      expect(held.phase).toBe('paused');
      expect(held.weights).toEqual({ blue: 100, green: 0 });
      const facts = await allFacts(handle);
      expect(scheduled(facts, 'shiftTraffic')).toHaveLength(0);
      // Listed too: BatonPhase = 'paused' finds it while it is held.
      expect(listedPhases(facts).at(-1)).toBe('paused');
      await handle.executeUpdate(deploymentActionUpdate, { args: [action('resume')] });
      await handle.result();
      expect((await handle.query(deploymentStatusQuery)).outcome).toBe('succeeded');
      await replayAll(handle);
    });
  });

  it('keeps the soak time that was left when a pause arrives in the first task of a run that continued as new', async () => {
    await withWorker(async () => {
      // The state a run carries into its next run in the middle of the 10 % soak, with 20 of its
      // 30 minutes left (as continue-as-new writes it), started with a pause in its first task.
      const s = spec('api', 'staging', '4.0.3');
      const now = await sb.env.currentTimeMs();
      const carried = await carriedMidSoak(s, now, 20 * 60_000);
      const { handle, accepted } = await startWith({ spec: s, state: carried }, action('pause'));
      expect(accepted.phase).toBe('paused');
      expect(accepted.soak).toMatchObject({ kind: 'soak', paused: true });
      expect(accepted.soak?.remainingSeconds).toBeGreaterThan(19 * 60);
      expect(accepted.soak?.remainingSeconds).toBeLessThanOrEqual(20 * 60);
      await sb.env.sleep('3h');
      const held = await handle.query(deploymentStatusQuery);
      expect(held.soak?.remainingSeconds).toBe(accepted.soak?.remainingSeconds);
      expect(held.weights).toEqual({ blue: 90, green: 10 });
      await handle.executeUpdate(deploymentActionUpdate, { args: [action('resume')] });
      await handle.result();
      const facts = await allFacts(handle);
      const resumedAt = facts.find((f) => f.type === 'WORKFLOW_EXECUTION_UPDATE_COMPLETED' && f.at > now + 3 * 3600_000)?.at ?? 0;
      const lastShift = scheduled(facts, 'shiftTraffic').at(-1)!;
      expect(lastShift.summary).toBe('Shift 100 % to green');
      // The 20 minutes left, not a wiped soak and not a fresh 30.
      expect(lastShift.at - resumedAt).toBeGreaterThanOrEqual(20 * 60_000 - 60_000);
      expect(lastShift.at - resumedAt).toBeLessThan(21 * 60_000);
      await replayAll(handle);
    });
  });

  it('cancels a release on a cancel sent with its start: nothing is deployed', async () => {
    await withWorker(async () => {
      const input = buildReleaseInput(sb.files.config, { service: 'web', version: '4.1.0', requestedBy: 'dev' });
      const start = new WithStartWorkflowOperation('release', { workflowId: input.id, taskQueue: sb.files.taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL' });
      await sb.env.client.workflow.executeUpdateWithStart(releaseCancelUpdate, { args: [{ reason: 'wrong build', by: 'rosa' }], startWorkflowOperation: start });
      const handle = await start.workflowHandle();
      await handle.result().catch(() => undefined);
      const done = await handle.query(releaseStatusQuery);
      expect(done).toMatchObject({ outcome: 'cancelled', reason: 'cancelled by rosa: wrong build' });
      expect(done.environments.every((e) => e.deployment === null)).toBe(true);
      await replayAll(handle);
    });
  });

  /**
   * The state a deployment carries into its next run in the middle of its 10 % soak: blue live,
   * green deployed and taking 10 %, the soak running with `leftMs` left. The infrastructure is
   * put in the same place (green deployed, 10 % on it) so the new run finds what it expects.
   */
  async function carriedMidSoak(s: DeploymentSpec, nowMs: number, leftMs: number): Promise<DeploymentState> {
    const deployed = await sb.aws.providers.compute.deployImage({ target: s.compute, colour: 'green', templateColour: 'blue', image: s.image, desiredCount: 2, deploymentId: s.id });
    await sb.aws.providers.routerFor(s.traffic).setWeights({ blue: 90, green: 10 });
    const blue = await sb.aws.providers.compute.describe(s.compute, 'blue');
    const state: DeploymentState = {
      ...initialRollout(new Date(nowMs - 15 * 60_000).toISOString()),
      stage: 'steps',
      phase: 'soaking',
      liveColour: 'blue',
      targetColour: 'green',
      weights: { blue: 90, green: 10 },
      previous: { desiredCount: blue.desiredCount, taskDefinitionArn: blue.taskDefinitionArn },
      newTaskDefinitionArn: deployed.taskDefinitionArn,
      stepIndex: 1,
      wait: { kind: 'soak', ...startCountdown(30 * 60_000, nowMs - 10 * 60_000) },
      nextSampleAt: nowMs + 60_000,
      writesStarted: true,
      trafficTouched: true,
      timeline: [],
    };
    expect(state.wait && state.wait.leftMs - (nowMs - (state.wait.since ?? nowMs))).toBe(leftMs);
    return state;
  }
});
