// A worker process killed in the middle of a soak, and a new worker started: the deployment
// resumes at the same step with the soak time that was left, and no step runs twice. Real
// Temporal dev server, real worker process, moto with CloudWatch fed by the sandbox feeder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/temporal/bundle';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { deploymentStatusQuery } from '../../workflows/messages';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';
import { firstScheduled, historyFacts, scheduled } from '../harness/history';

const SOAK_SECONDS = 30;

describe('a worker crash in the middle of a soak', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      worker: false,
      feeder: true,
      plan: {
        steps: [{ shift: 10 }, { soak: `${SOAK_SECONDS}s` }, { shift: 100 }],
        analysis: { interval: '5s', window: '6s', failureLimit: 2, inconclusiveLimit: 4 },
        keepPreviousFor: '1s',
        standbyFor: '1s',
        stableTimeout: '1m',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('resumes at the same step with the remaining soak and applies no step twice', async () => {
    const crashing = await stack.spawnWorker();
    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'prod', version: '1.5.0', requestedBy: 'ada' });
    const { id } = await startDeployment(stack.client, stack.taskQueue, spec);
    const handle = stack.client.workflow.getHandle(id);
    const status = () => handle.query(deploymentStatusQuery);

    const before = await until('the 10 % soak to be under way', status, (s) => s.phase === 'soaking' && s.weights?.green === 10 && (s.soak?.remainingSeconds ?? 99) <= SOAK_SECONDS - 8);

    // A crash, not a shutdown: no chance to finish anything.
    process.kill(-(crashing.child.pid as number), 'SIGKILL');
    await crashing.stop();
    await new Promise((r) => setTimeout(r, 3000));

    await stack.startWorker();
    const after: DeploymentStatus = await until('the new worker to answer', status, () => true);
    expect(after.step?.index).toBe(before.step?.index);
    expect(after.weights).toEqual({ blue: 90, green: 10 });
    expect(after.soak?.kind).toBe('soak');
    // The soak carried on where it was (a query reads the clock as of the last workflow task,
    // so it may not have moved yet): not restarted, not finished.
    expect(after.soak?.remainingSeconds).toBeLessThanOrEqual(before.soak?.remainingSeconds as number);
    expect(after.soak?.remainingSeconds).toBeGreaterThan(0);

    await handle.result();
    const final = await status();
    expect(final.outcome).toBe('succeeded');

    // The history written across both workers replays on the same code without a
    // nondeterminism error, as any later worker will replay it.
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, id);

    const facts = await historyFacts(handle);
    expect(scheduled(facts, 'deployImage')).toHaveLength(1);
    expect(scheduled(facts, 'shiftTraffic').map((f) => f.summary)).toEqual(['Shift 10 % to green', 'Shift 100 % to green']);
    const soak = (firstScheduled(facts, 'Shift 100 % to green').at - firstScheduled(facts, 'Shift 10 % to green').at) / 1000;
    expect(soak).toBeGreaterThanOrEqual(SOAK_SECONDS);
    // At least 8 s of the soak had passed at the crash: had it started over, it would have
    // lasted 38 s or more. (One inconclusive sample may add an interval of 5 s.)
    expect(soak).toBeLessThan(SOAK_SECONDS + 8);
    expect(await stack.providers.routerFor(stack.config.services.web.environments.prod.traffic).getWeights()).toEqual({ blue: 0, green: 100 });
  });
});
