import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListClustersCommand } from '@aws-sdk/client-ecs';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListHostedZonesCommand } from '@aws-sdk/client-route-53';
import { ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startMoto } from '../harness/servers';
import { motoClients, startBlackHole, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { seedTarget, SANDBOX_REGIONS } from '../../src/sandbox/seed';
import {
  AWS_CONNECTION_TIMEOUT_MS,
  AWS_MAX_ATTEMPTS,
  AWS_REQUEST_TIMEOUT_MS,
  createAwsClients,
  send,
  withAbortSignal,
  type AwsClients,
} from '../../src/providers/aws';
import { createEcsCompute } from '../../src/providers/ecs';
import type { ComputeTarget } from '../../src/domain/types';

const elapsedSince = (start: number) => Date.now() - start;

describe('the bounds on every AWS call', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let target: ComputeTarget;

  beforeAll(async () => {
    moto = await startMoto();
    aws = motoClients(moto);
    const seeded = await seedTarget({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS, region: SANDBOX_REGIONS.primary, service: 'web', environment: 'dev', router: 'alb' });
    target = { region: seeded.region, cluster: seeded.ecs.cluster, services: { blue: seeded.ecs.blueService, green: seeded.ecs.greenService } };
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('builds every client with a connection timeout, a request timeout that fails the call, and 2 attempts', async () => {
    const region = SANDBOX_REGIONS.primary;
    const clients = [
      [aws.ecs(region), () => send(aws.ecs(region), new ListClustersCommand({}))],
      [aws.elb(region), () => send(aws.elb(region), new DescribeLoadBalancersCommand({}))],
      [aws.route53(region), () => send(aws.route53(region), new ListHostedZonesCommand({}))],
      [aws.cloudwatch(region), () => send(aws.cloudwatch(region), new ListMetricsCommand({}))],
    ] as const;
    for (const [client, call] of clients) {
      await call(); // the handler resolves its settings on its first request
      expect(await client.config.maxAttempts()).toBe(AWS_MAX_ATTEMPTS);
      const handler = client.config.requestHandler;
      expect(handler).toBeInstanceOf(NodeHttpHandler);
      expect((handler as NodeHttpHandler).httpHandlerConfigs()).toMatchObject({
        connectionTimeout: AWS_CONNECTION_TIMEOUT_MS,
        requestTimeout: AWS_REQUEST_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      });
    }
    // One call, retry included, stays inside an activity's 60 s start-to-close.
    expect(AWS_MAX_ATTEMPTS * AWS_REQUEST_TIMEOUT_MS).toBeLessThan(60_000 / 2);
  });

  it('rejects a call at once when its signal is already aborted', async () => {
    const compute = createEcsCompute(aws.ecs);
    const start = Date.now();
    const err = await withAbortSignal(AbortSignal.abort(), () => compute.describe(target, 'blue')).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(elapsedSince(start)).toBeLessThan(1000);
  });

  it('aborts a request in flight when its signal is aborted', async () => {
    const hole = await startBlackHole();
    try {
      const compute = createEcsCompute(createAwsClients({ endpoint: hole.endpoint, credentials: TEST_CREDENTIALS }).ecs);
      const controller = new AbortController();
      const start = Date.now();
      setTimeout(() => controller.abort(), 300);
      const err = await withAbortSignal(controller.signal, () => compute.describe(target, 'blue')).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError' });
      expect(elapsedSince(start)).toBeLessThan(2000); // far below the 10 s request timeout
    } finally {
      await hole.stop();
    }
  });

  it('runs calls outside withAbortSignal unbounded by any signal', async () => {
    const compute = createEcsCompute(aws.ecs);
    await withAbortSignal(AbortSignal.abort(), async () => undefined);
    expect((await compute.describe(target, 'blue')).serviceName).toBe('web-dev-blue');
  });
});
