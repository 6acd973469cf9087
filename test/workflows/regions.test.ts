// Region-pinned work on the real dev server with moto: a deployment's AWS calls wait on its
// region's task queue until a worker serving that region polls it. A worker process started
// with BATON_REGIONS=us-west-2 runs the workflow (the main queue) but none of its us-east-1
// work; an in-process worker for us-east-1 then carries it to the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporal } from '@temporalio/proto';
import { regionQueue } from '../../src/domain/regions';
import { buildDeploymentSpec, startDeployment } from '../../src/temporal/deployments';
import { deploymentStatusQuery } from '../../workflows/messages';
import { historyFacts, replayAll, scheduled } from '../harness/history';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

const { PendingActivityState, TaskQueueType } = temporal.api.enums.v1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The activities a deployment runs on the main queue: Slack, and tail takeovers through Temporal. */
const MAIN_QUEUE_ACTIVITIES = new Set(['postMessage', 'updateMessage', 'takeOverTail']);

describe('region-pinned work (dev server, moto)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      worker: false,
      feeder: true,
      plan: { steps: [{ shift: 100 }], analysis: { interval: '1s', window: '3s', inconclusiveLimit: 40 }, keepPreviousFor: '2s', standbyFor: '2s', stableTimeout: '1m' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const pollers = async (queue: string) =>
    (await stack.client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: queue }, taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY })).pollers ?? [];

  it('holds a deployment\'s AWS work on its region\'s queue while only a us-west-2 worker runs, and completes once a us-east-1 worker starts', async () => {
    const east = regionQueue(stack.taskQueue, 'us-east-1');
    const west = regionQueue(stack.taskQueue, 'us-west-2');
    const dr = await stack.spawnWorker({ BATON_REGIONS: 'us-west-2' });
    expect(dr.output()).toContain(`serving task queue '${stack.taskQueue}'`);
    expect(dr.output()).toContain(`the activities of us-west-2 on '${west}'`);
    expect(dr.output()).not.toContain(east);
    const drIdentity = `${dr.child.pid}@`;

    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'dev', version: '6.0.0', requestedBy: 'ada' });
    expect(spec.compute.region).toBe('us-east-1');
    const before = { weights: await stack.providers.routerFor(spec.traffic).getWeights(), green: (await stack.providers.compute.describe(spec.compute, 'green')).desiredCount };
    const { id } = await startDeployment(stack.client, stack.taskQueue, spec);
    const handle = stack.client.workflow.getHandle(id);

    // The workflow runs on the DR worker (the main queue); its first AWS call waits on us-east-1's queue.
    const pending = async () => (await handle.describe()).raw.pendingActivities ?? [];
    await until('the first AWS call to be scheduled', pending, (p) => p.some((a) => a.activityType?.name === 'readWeights'), 60_000);
    await sleep(5000);
    const waiting = (await pending()).find((a) => a.activityType?.name === 'readWeights');
    expect(waiting).toMatchObject({ state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED, attempt: 1 });
    expect(scheduled(await historyFacts(handle), 'readWeights').map((f) => f.taskQueue)).toEqual([east]);
    expect(await pollers(east)).toEqual([]);
    expect((await pollers(west)).map((p) => p.identity)).toEqual([expect.stringMatching(new RegExp(`^${drIdentity}`))]);
    const held = await handle.query(deploymentStatusQuery);
    expect(held).toMatchObject({ phase: 'deploying', outcome: null, targetColour: null });
    expect({ weights: await stack.providers.routerFor(spec.traffic).getWeights(), green: (await stack.providers.compute.describe(spec.compute, 'green')).desiredCount }).toEqual(before);

    // A worker for us-east-1 (the config's regions) picks the work up, and the deployment completes.
    await stack.startWorker();
    await handle.result();
    expect((await handle.query(deploymentStatusQuery)).outcome).toBe('succeeded');
    expect(await stack.providers.routerFor(spec.traffic).getWeights()).toEqual({ blue: 0, green: 100 });

    const facts = await historyFacts(handle);
    const queueOf = new Map(scheduled(facts).map((f) => [f.id, f.taskQueue]));
    const byQueue = new Map<string, Set<string>>();
    for (const f of scheduled(facts)) byQueue.set(f.taskQueue!, (byQueue.get(f.taskQueue!) ?? new Set()).add(f.activityType!));
    expect([...byQueue.keys()].sort()).toEqual([stack.taskQueue, east].sort());
    expect([...byQueue.get(east)!].filter((t) => MAIN_QUEUE_ACTIVITIES.has(t))).toEqual([]);
    expect([...byQueue.get(east)!]).toEqual(expect.arrayContaining(['readWeights', 'describeService', 'deployImage', 'waitForStable', 'smokeTest', 'shiftTraffic', 'measure', 'scaleService']));
    expect([...byQueue.get(stack.taskQueue)!].every((t) => MAIN_QUEUE_ACTIVITIES.has(t))).toBe(true);
    // Every us-east-1 activity was taken by the us-east-1 worker (this process), none by the DR worker.
    const eastStarts = facts.filter((f) => f.type === 'ACTIVITY_TASK_STARTED' && queueOf.get(f.scheduledEventId!) === east);
    expect(eastStarts.length).toBeGreaterThan(0);
    expect(eastStarts.filter((f) => !f.identity?.startsWith(`${process.pid}@`))).toEqual([]);

    await replayAll(handle);
    await dr.stop();
  }, 240_000);
});
