import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListTaskDefinitionsCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { startMoto } from '../harness/servers';
import { createServiceRollingOut, motoClients, TEST_CREDENTIALS, type MotoServer } from '../harness/aws';
import { seedTarget, SANDBOX_REGIONS, type SeededTarget } from '../../src/sandbox/seed';
import { createEcsCompute, DEPLOYMENT_TAG, revisionsOfFamily } from '../../src/providers/ecs';
import { ErrorType } from '../../src/domain/errors';
import type { ComputeTarget } from '../../src/domain/types';
import type { AwsClients } from '../../src/providers/aws';
import type { Compute } from '../../src/providers/types';

const mismatch = (text: string) => expect.objectContaining({ name: ErrorType.InfrastructureMismatch, message: expect.stringContaining(text) });

describe('ECS compute against moto', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let compute: Compute;
  let seeded: SeededTarget;
  let target: ComputeTarget;

  const revisions = async () =>
    (await aws.ecs(target.region).send(new ListTaskDefinitionsCommand({ familyPrefix: 'web-dev' }))).taskDefinitionArns ?? [];
  const deploy = (version: string, deploymentId: string, desiredCount = 0) =>
    compute.deployImage({ target, colour: 'green', templateColour: 'blue', image: `${seeded.image}:${version}`, desiredCount, deploymentId });

  beforeAll(async () => {
    moto = await startMoto();
    aws = motoClients(moto);
    compute = createEcsCompute(aws.ecs);
    seeded = await seedTarget({ endpoint: moto.endpoint, credentials: TEST_CREDENTIALS, region: SANDBOX_REGIONS.primary, service: 'web', environment: 'dev', router: 'alb' });
    target = { region: seeded.region, cluster: seeded.ecs.cluster, services: { blue: seeded.ecs.blueService, green: seeded.ecs.greenService }, container: 'web' };
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('describes the live colour as stable, running its image', async () => {
    expect(await compute.describe(target, 'blue')).toMatchObject({
      serviceName: 'web-dev-blue',
      image: `${seeded.image}:1.0.0`,
      desiredCount: 2,
      runningCount: 2,
      deployments: 1,
      primary: { taskDefinitionArn: expect.stringMatching(/task-definition\/web-dev:1$/), rolloutState: 'COMPLETED' },
      deployedBy: null, // the seed registered it, not a Baton deployment
      stable: true,
    });
  });

  it('does not count a service as stable while ECS reports its rollout IN_PROGRESS, even with every task running', async () => {
    await createServiceRollingOut(aws.ecs(target.region), target.cluster, 'web-dev-rolling', (await compute.describe(target, 'blue')).taskDefinitionArn);
    const state = await compute.describe({ ...target, services: { ...target.services, blue: 'web-dev-rolling' } }, 'blue');
    expect(state).toMatchObject({ desiredCount: 3, runningCount: 3, deployments: 1, primary: { rolloutState: 'IN_PROGRESS' }, stable: false });
  });

  it('registers one tagged revision with the new image and points the idle colour at it', async () => {
    const state = await deploy('1.1.0', 'deploy:web:dev:1.1.0');
    expect(state).toMatchObject({ serviceName: 'web-dev-green', image: `${seeded.image}:1.1.0`, desiredCount: 0 });
    expect(state.taskDefinitionArn).toMatch(/task-definition\/web-dev:2$/);
    expect(state.deployedBy).toBe('deploy:web:dev:1.1.0');
    expect(await revisions()).toHaveLength(2);
  });

  it('reports the primary deployment as moto 5.2.5 does: the one recorded at CreateService, never updated', async () => {
    // Real ECS would show web-dev:2 here; moto keeps the deployment it created with the service.
    // This is why waitForStable compares the service's task definition (see src/providers/ecs.ts).
    const state = await compute.describe(target, 'green');
    expect(state.taskDefinitionArn).toMatch(/task-definition\/web-dev:2$/);
    expect(state.primary).toEqual({ taskDefinitionArn: expect.stringMatching(/task-definition\/web-dev:1$/), rolloutState: 'COMPLETED', desiredCount: 0, runningCount: 0 });
  });

  it('reuses that revision when the same deployment is retried', async () => {
    const state = await deploy('1.1.0', 'deploy:web:dev:1.1.0');
    expect(state.taskDefinitionArn).toMatch(/task-definition\/web-dev:2$/);
    expect(await revisions()).toHaveLength(2);
  });

  it('leaves the live colour on its own revision', async () => {
    expect((await compute.describe(target, 'blue')).taskDefinitionArn).toMatch(/task-definition\/web-dev:1$/);
  });

  it('becomes stable once scaled up, and reads the new size back', async () => {
    const scaled = await compute.scale(target, 'green', 2);
    expect(scaled).toMatchObject({ desiredCount: 2, image: `${seeded.image}:1.1.0` });
    expect(await compute.describe(target, 'green')).toMatchObject({ runningCount: 2, stable: true });
  });

  it('scales down to zero and reads it back', async () => {
    expect(await compute.scale(target, 'green', 0)).toMatchObject({ desiredCount: 0, runningCount: 0, stable: true });
  });

  it('registers a fresh revision for a different deployment', async () => {
    const state = await deploy('1.2.0', 'deploy:web:dev:1.2.0', 2);
    expect(state).toMatchObject({ image: `${seeded.image}:1.2.0`, desiredCount: 2 });
    expect(state.taskDefinitionArn).toMatch(/task-definition\/web-dev:3$/);
  });

  it("does not reuse a revision tagged with the deployment's id in a family that merely starts with the same name", async () => {
    // Real ECS lists web-dev-canary under familyPrefix 'web-dev'; moto 5.2.5 matches the family
    // exactly, so here this guards the whole path and the next test shows the filter itself.
    const canary = await aws.ecs(target.region).send(
      new RegisterTaskDefinitionCommand({
        family: 'web-dev-canary',
        containerDefinitions: [{ name: 'web', image: `${seeded.image}:1.3.0`, memory: 256 }],
        tags: [{ key: DEPLOYMENT_TAG, value: 'deploy:web:dev:1.3.0' }],
      }),
    );
    expect(canary.taskDefinition?.taskDefinitionArn).toMatch(/web-dev-canary:1$/);
    const state = await deploy('1.3.0', 'deploy:web:dev:1.3.0');
    expect(state.taskDefinitionArn).toMatch(/task-definition\/web-dev:4$/);
    expect(state).toMatchObject({ image: `${seeded.image}:1.3.0`, deployedBy: 'deploy:web:dev:1.3.0' });
  });

  it('picks the revisions of exactly one family, newest first, from a prefix listing', () => {
    const arn = (name: string) => `arn:aws:ecs:us-east-1:123456789012:task-definition/${name}`;
    const listed = [arn('web-dev-canary:9'), arn('web-dev-canary:1'), arn('web-dev:2'), arn('web-dev:10'), arn('web-devx:3'), arn('web-dev:1')];
    expect(revisionsOfFamily(listed, 'web-dev')).toEqual([arn('web-dev:10'), arn('web-dev:2'), arn('web-dev:1')]);
  });

  describe('when the spec does not match the infrastructure', () => {
    it('names the missing cluster', async () => {
      await expect(compute.describe({ ...target, cluster: 'nowhere' }, 'blue')).rejects.toEqual(mismatch("ECS cluster 'nowhere' not found"));
    });

    it('names the missing service', async () => {
      await expect(compute.scale({ ...target, services: { ...target.services, green: 'web-dev-teal' } }, 'green', 1)).rejects.toEqual(
        mismatch("ECS service 'web-dev-teal' not found"),
      );
    });

    it('names the missing container and registers nothing', async () => {
      const before = (await revisions()).length;
      await expect(
        compute.deployImage({ target: { ...target, container: 'sidecar' }, colour: 'green', templateColour: 'blue', image: 'x:1', desiredCount: 1, deploymentId: 'd' }),
      ).rejects.toEqual(mismatch("has no container 'sidecar'"));
      expect(await revisions()).toHaveLength(before);
    });
  });
});
