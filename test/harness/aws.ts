// Helpers for tests that talk to moto: credentials and SDK clients built exactly as the
// providers build theirs, so a test reads and writes the same moto state the adapters see.
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { CreateServiceCommand, DescribeServicesCommand, UpdateServiceCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { createAwsClients, type AwsClients } from '../../src/providers/aws';
import type { MotoServer } from '../../src/local/servers';
import type { SeededTarget } from '../../src/sandbox/seed';
import type { TrafficRouterSpec } from '../../src/domain/types';

export type { MotoServer };

export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export function motoClients(moto: MotoServer): AwsClients {
  return createAwsClients({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS });
}

/**
 * An ECS service running all its tasks whose rollout ECS still reports IN_PROGRESS. moto 5.2.5
 * fixes a service's deployment (and its rolloutState) at CreateService: created with more tasks
 * than MOTO_ECS_SERVICE_RUNNING (unset: 0) it reads IN_PROGRESS for good, while an UpdateService
 * makes the service itself report its tasks running.
 */
export async function createServiceRollingOut(ecs: ECSClient, cluster: string, serviceName: string, taskDefinition: string): Promise<void> {
  const desiredCount = 3;
  await ecs.send(new CreateServiceCommand({ cluster, serviceName, taskDefinition, desiredCount }));
  await ecs.send(new UpdateServiceCommand({ cluster, service: serviceName, desiredCount }));
  const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [serviceName] }));
  const rolloutState = out.services?.[0]?.deployments?.[0]?.rolloutState;
  if (rolloutState !== 'IN_PROGRESS') throw new Error(`moto reports ${serviceName}'s rollout ${rolloutState}, not IN_PROGRESS: is MOTO_ECS_SERVICE_RUNNING set?`);
}

/** A TCP server that accepts connections and never answers: an AWS endpoint that hangs. */
export async function startBlackHole(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The traffic router spec of a seeded target, as config resolves it. */
export function routerSpec(t: SeededTarget): TrafficRouterSpec {
  return t.traffic.type === 'alb'
    ? { type: 'alb', region: t.region, listenerArn: t.traffic.listenerArn, targetGroups: { blue: t.traffic.blueTargetGroupArn, green: t.traffic.greenTargetGroupArn } }
    : {
        type: 'route53',
        region: t.region,
        hostedZoneId: t.traffic.hostedZoneId,
        recordName: t.traffic.recordName,
        recordType: t.traffic.recordType,
        setIdentifiers: { blue: t.traffic.blueSetIdentifier, green: t.traffic.greenSetIdentifier },
      };
}
