// Workers act only on what their own config names (src/domain/spec-check.ts), on the real dev
// server with moto. Someone who can reach Temporal, but not the API, starts a deployment workflow
// directly with a spec of their own making: one that names another service's cluster, one whose
// image comes from another repository. The run's first activity checks the whole spec and refuses
// it, so no other activity reaches AWS, the run fails having changed nothing (not rolled back),
// and moto shows both clusters and the traffic exactly as they were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
import { WorkflowFailedError } from '@temporalio/client';
import type { ServiceEnvironment } from '../../src/config';
import { ErrorType } from '../../src/domain/errors';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import type { DeploymentSpec } from '../../src/domain/types';
import { deploymentStatusQuery } from '../../workflows/messages';
import { motoClients } from '../harness/aws';
import { historyFacts, replayAll } from '../harness/history';
import { startStack, type Stack } from '../harness/stack';

/** The activities that post to Slack (or the log): they tell, and touch no AWS. */
const SLACK_ACTIVITIES = new Set(['postMessage', 'updateMessage']);

describe('a worker refuses a spec its config does not name (dev server, moto)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ feeder: true, plan: { steps: [{ shift: 100 }], analysis: { interval: '1s', window: '3s', inconclusiveLimit: 40 }, keepPreviousFor: '2s', standbyFor: '2s', stableTimeout: '1m' } });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const env = (service: string): ServiceEnvironment => stack.config.services[service].environments.dev;

  /** Both colours of a service environment, its traffic and its task definition revisions, as moto has them. */
  async function observe(e: ServiceEnvironment) {
    const colour = async (c: 'blue' | 'green') => {
      const s = await stack.motoProviders.compute.describe(e.compute, c);
      return { desiredCount: s.desiredCount, taskDefinitionArn: s.taskDefinitionArn };
    };
    const revisions = await motoClients(stack.moto).ecs(e.compute.region).send(new ListTaskDefinitionsCommand({}));
    return {
      blue: await colour('blue'),
      green: await colour('green'),
      weights: await stack.motoProviders.routerFor(e.traffic).getWeights(),
      revisions: (revisions.taskDefinitionArns ?? []).filter((arn) => arn.includes(`/${e.compute.cluster}:`)),
    };
  }

  /** Starts the deployment workflow itself, as anyone with access to Temporal could, and waits for it to end. */
  async function runAsAttacker(spec: DeploymentSpec) {
    const handle = await stack.client.workflow.start('deployment', { workflowId: spec.id, taskQueue: stack.taskQueue, args: [{ spec }] });
    const failure = await handle.result().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const status = await handle.query(deploymentStatusQuery);
    const facts = await historyFacts(handle);
    const history = await handle.fetchHistory();
    const refusals = (history.events ?? [])
      .map((e) => e.activityTaskFailedEventAttributes?.failure)
      .filter((f) => f?.applicationFailureInfo?.type === ErrorType.SpecNotAllowed)
      .map((f) => f?.message ?? '');
    // Every activity the run scheduled, but for Slack's.
    const scheduled = facts.filter((f) => f.type === 'ACTIVITY_TASK_SCHEDULED' && !SLACK_ACTIVITIES.has(f.activityType ?? '')).map((f) => f.activityType);
    await replayAll(handle);
    return { status, refusals, scheduled };
  }

  it('refuses a spec naming another service\'s cluster before anything is written', async () => {
    const web = env('web');
    const api = env('api');
    const before = { web: await observe(web), api: await observe(api) };

    const spec = { ...buildDeploymentSpec(stack.config, { service: 'web', environment: 'dev', version: '7.0.0', requestedBy: 'mallory' }), compute: api.compute };
    const { status, refusals, scheduled } = await runAsAttacker(spec);

    expect(status.outcome).toBe('failed');
    expect(status.rollback).toBeNull();
    expect(status.error).toContain(`compute.cluster: expected '${web.compute.cluster}', got '${api.compute.cluster}'`);
    expect(refusals).toEqual([expect.stringContaining('the deployment spec refused: not what this worker\'s config names for web in dev')]);
    // The refusal is final: tried once, by the first activity, and nothing after it ran.
    expect(scheduled).toEqual(['readWeights']);
    expect({ web: await observe(web), api: await observe(api) }).toEqual(before);
  }, 120_000);

  it('refuses an image from a repository other than the configured one before anything runs: failed, not rolled back', async () => {
    const web = env('web');
    const api = env('api');
    const before = { web: await observe(web), api: await observe(api) };

    const spec = { ...buildDeploymentSpec(stack.config, { service: 'web', environment: 'dev', version: '7.0.1', requestedBy: 'mallory' }), image: 'docker.io/attacker/web:7.0.1' };
    const { status, refusals, scheduled } = await runAsAttacker(spec);

    expect(status).toMatchObject({ outcome: 'failed', phase: 'failed', rollback: null, tookOver: null, targetColour: null });
    expect(status.error).toContain(`the deployment spec refused: not what this worker's config names for web in dev: image: expected an image of '${web.image}', got 'docker.io/attacker/web:7.0.1'`);
    expect(status.timeline.map((e) => e.type)).toContain('failed');
    expect(status.timeline.map((e) => e.type)).not.toContain('rolling_back');
    expect(refusals).toHaveLength(1);
    // No activity after the check ran: no describe, no takeover, no new revision, no traffic.
    expect(scheduled).toEqual(['readWeights']);
    expect({ web: await observe(web), api: await observe(api) }).toEqual(before);
  }, 120_000);

  it('still deploys a spec built from the config', async () => {
    const web = env('web');
    const spec = buildDeploymentSpec(stack.config, { service: 'web', environment: 'dev', version: '7.1.0', requestedBy: 'ada' });
    const handle = await stack.client.workflow.start('deployment', { workflowId: spec.id, taskQueue: stack.taskQueue, args: [{ spec }] });
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    expect(await stack.motoProviders.routerFor(web.traffic).getWeights()).toEqual({ blue: 0, green: 100 });
    expect((await stack.motoProviders.compute.describe(web.compute, 'green')).desiredCount).toBeGreaterThan(0);
  }, 120_000);
});
