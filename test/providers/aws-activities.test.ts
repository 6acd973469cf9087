// The AWS activities against moto, each run as an activity (Temporal's MockActivityEnvironment
// gives it a Context: heartbeats, cancellation) without a worker or a server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { startMoto } from '../harness/servers';
import { createServiceRollingOut, motoClients, routerSpec, startBlackHole, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { seedTarget, SANDBOX_RECORD_TTL, SANDBOX_REGIONS, type SeededTarget } from '../../src/sandbox/seed';
import { createProviders, type Providers } from '../../src/providers/factory';
import { CALL_HEARTBEAT_MS, awsActivities } from '../../activities/aws';
import { ErrorType } from '../../src/domain/errors';
import type { AwsClients } from '../../src/providers/aws';
import type { ComputeTarget, TrafficRouterSpec } from '../../src/domain/types';

/** An activity environment that records heartbeats (and logs only errors); `run` types its arguments by the activity's. */
function activityEnv() {
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: new DefaultLogger('ERROR') });
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  const run = <P extends unknown[], R>(fn: (...args: P) => Promise<R>, ...args: NoInfer<P>): Promise<R> => env.run(fn, ...args);
  return { env, run, heartbeats };
}

const until = async (condition: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('AWS activities against moto', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let providers: Providers;
  let acts: ReturnType<typeof awsActivities>;
  let web: SeededTarget;
  let target: ComputeTarget;
  const routers: Partial<Record<'alb' | 'route53', TrafficRouterSpec>> = {};

  beforeAll(async () => {
    moto = await startMoto();
    aws = motoClients(moto);
    providers = createProviders({ awsEndpoint: moto.endpoint, awsCredentials: TEST_CREDENTIALS, slack: {} });
    acts = awsActivities({ ...providers, stablePollMs: 100 });
    const seed = { endpoint: moto.endpoint, credentials: TEST_CREDENTIALS, region: SANDBOX_REGIONS.primary, environment: 'dev' };
    web = await seedTarget({ ...seed, service: 'web', router: 'alb' });
    routers.alb = routerSpec(web);
    routers.route53 = routerSpec(await seedTarget({ ...seed, service: 'api', router: 'route53' }));
    target = { region: web.region, cluster: web.ecs.cluster, services: { blue: web.ecs.blueService, green: web.ecs.greenService }, container: 'web' };
  });
  afterAll(async () => {
    await moto?.stop();
  });

  describe('waitForStable', () => {
    let deployed: string;
    let previous: string;

    beforeAll(async () => {
      previous = (await providers.compute.describe(target, 'green')).taskDefinitionArn;
      const { run } = activityEnv();
      const state = await run(acts.deployImage, {
        target,
        colour: 'green',
        templateColour: 'blue',
        image: `${web.image}:1.1.0`,
        desiredCount: 2,
        deploymentId: 'deploy:web:dev:1.1.0',
      });
      deployed = state.taskDefinitionArn;
      expect(deployed).not.toBe(previous);
    });

    it('returns once green is stable and runs the revision registered for this deployment, heartbeating each poll', async () => {
      const { run, heartbeats } = activityEnv();
      const state = await run(acts.waitForStable, target, 'green', deployed);
      expect(state).toMatchObject({ taskDefinitionArn: deployed, desiredCount: 2, runningCount: 2, stable: true, deployedBy: 'deploy:web:dev:1.1.0' });
      expect(heartbeats).toContainEqual({ runningCount: 2, desiredCount: 2, deployments: 1, rolloutState: 'COMPLETED' });
    });

    it('returns once stable, whatever revision runs, when no revision is expected', async () => {
      const { run } = activityEnv();
      expect(await run(acts.waitForStable, target, 'blue', null)).toMatchObject({ stable: true });
    });

    it('fails at once, non-retryable, when ECS runs the previous revision again (its circuit breaker rolled back)', async () => {
      // What ECS's deployment circuit breaker does on a failed rollout: the service goes back to
      // the last revision that completed.
      await aws.ecs(target.region).send(new UpdateServiceCommand({ cluster: target.cluster, service: target.services.green, taskDefinition: previous }));
      const { run, heartbeats } = activityEnv();
      const err = await run(acts.waitForStable, target, 'green', deployed).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: ErrorType.RevisionReverted, nonRetryable: true });
      expect((err as Error).message).toBe(
        `ECS runs ${previous} on web-dev-green, not ${deployed} registered for this deployment: its deployment circuit breaker rolled it back`,
      );
      expect(heartbeats).toHaveLength(1); // one look was enough
    });

    it('keeps polling, heartbeating each poll, while ECS reports the rollout IN_PROGRESS, until cancelled', async () => {
      await createServiceRollingOut(aws.ecs(target.region), target.cluster, 'web-dev-rolling', previous);
      const rolling = { ...target, services: { ...target.services, blue: 'web-dev-rolling' } };
      const { env, run, heartbeats } = activityEnv();
      const waiting = run(acts.waitForStable, rolling, 'blue', previous).catch((e: unknown) => e);
      await until(() => heartbeats.length >= 3, 10_000);
      expect(heartbeats[0]).toEqual({ runningCount: 3, desiredCount: 3, deployments: 1, rolloutState: 'IN_PROGRESS' });
      env.cancel();
      expect(await waiting).toBeInstanceOf(CancelledFailure);
    });
  });

  describe.each(['alb', 'route53'] as const)('traffic through the %s router', (type) => {
    it('shifts, verifies and returns the weights with what to wait on, then waits for the sync', async () => {
      const spec = routers[type]!;
      const { run } = activityEnv();
      const shifted = await run(acts.shiftTraffic, spec, { blue: 90, green: 10 });
      expect(shifted.weights).toEqual({ blue: 90, green: 10 });
      if (type === 'route53') expect(shifted.syncToken).toMatch(/^\/change\//);
      else expect(shifted.syncToken).toBeNull();

      const sync = activityEnv();
      await sync.run(acts.awaitTrafficSync, spec, shifted.syncToken);
      // Route 53 asked once (moto is INSYNC at once); the ALB had nothing to ask.
      expect(sync.heartbeats).toHaveLength(type === 'route53' ? 1 : 0);
      expect(await activityEnv().run(acts.readWeights, spec)).toEqual({ blue: 90, green: 10 });
      await activityEnv().run(acts.shiftTraffic, spec, { blue: 100, green: 0 });
    });

    it('says how long clients may keep the previous answer', async () => {
      expect(await activityEnv().run(acts.trafficSettleSeconds, routers[type]!)).toBe(type === 'route53' ? SANDBOX_RECORD_TTL : 0);
    });
  });

  describe('cancellation', () => {
    it('heartbeats while an AWS call hangs, and a cancel aborts the request', async () => {
      const hole = await startBlackHole();
      try {
        const stuck = awsActivities({ ...createProviders({ awsEndpoint: hole.endpoint, awsCredentials: TEST_CREDENTIALS, slack: {} }), stablePollMs: 100 });
        const { env, run, heartbeats } = activityEnv();
        const start = Date.now();
        const call = run(stuck.describeService, target, 'blue').catch((e: unknown) => e);
        await until(() => heartbeats.length >= 1, CALL_HEARTBEAT_MS + 2000);
        env.cancel();
        const cancelledAt = Date.now();
        expect(await call).toMatchObject({ name: 'AbortError' });
        expect(Date.now() - cancelledAt).toBeLessThan(1000);
        expect(cancelledAt - start).toBeGreaterThanOrEqual(CALL_HEARTBEAT_MS - 100);
      } finally {
        await hole.stop();
      }
    });
  });
});
