// Compute on ECS. A deployment registers (at most once per deployment id) a task definition
// revision that differs from the live colour's only in one container's image, points the idle
// colour's service at it and reads the service back. `stable` means what AWS's
// `services-stable` waiter means (exactly one deployment and runningCount == desiredCount),
// and also that ECS has not reported the rollout IN_PROGRESS or FAILED.
//
// moto 5.2.5 (the local stand-in) records a service's one deployment at CreateService and never
// updates it: its taskDefinition, counts and rolloutState stay as they were then (rolloutState
// COMPLETED when MOTO_ECS_SERVICE_RUNNING covered the desired count at creation, else
// IN_PROGRESS; never FAILED), while the service's own taskDefinition and counts follow every
// UpdateService. Hence `stable` counts the service's tasks, not the deployment's, and callers
// compare the service's taskDefinitionArn, which real ECS keeps equal to the primary
// deployment's (a circuit-breaker rollback sets both back).
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type ContainerDefinition,
  type Deployment,
  type ECSClient,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type Tag,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import type { Colour, ComputeTarget } from '../domain/types';
import type { Compute, DeployImageRequest, PrimaryDeployment, ServiceState } from './types';
import { infrastructureMismatch, orMismatch, send } from './aws';

export const DEPLOYMENT_TAG = 'baton:deployment';
/** How many of a family's newest revisions are searched for one carrying the deployment tag. */
const RECENT_REVISIONS = 5;

interface Described {
  service: Service;
  taskDefinition: TaskDefinition;
  /** The task definition's tags (the deployment that registered it). */
  tags: Tag[];
  container: ContainerDefinition;
}

export function createEcsCompute(clientFor: (region: string) => ECSClient): Compute {
  async function findService(target: ComputeTarget, colour: Colour): Promise<Service & { taskDefinition: string }> {
    const name = target.services[colour];
    const out = await orMismatch(
      () => send(clientFor(target.region), new DescribeServicesCommand({ cluster: target.cluster, services: [name] })),
      { ClusterNotFoundException: `ECS cluster '${target.cluster}' not found in ${target.region}` },
    );
    const service = out.services?.find((s) => s.serviceName === name && s.status === 'ACTIVE');
    if (!service?.taskDefinition) {
      throw infrastructureMismatch(`ECS service '${name}' not found (or not active) in cluster '${target.cluster}' in ${target.region}`);
    }
    return { ...service, taskDefinition: service.taskDefinition };
  }

  async function describeService(target: ComputeTarget, colour: Colour): Promise<Described> {
    const service = await findService(target, colour);
    const { taskDefinition, tags } = await readTaskDefinition(clientFor(target.region), service.taskDefinition);
    return { service, taskDefinition, tags, container: pickContainer(taskDefinition, target.container) };
  }

  async function describe(target: ComputeTarget, colour: Colour): Promise<ServiceState> {
    return toState(await describeService(target, colour));
  }

  async function deployImage(req: DeployImageRequest): Promise<ServiceState> {
    const ecs = clientFor(req.target.region);
    const template = await describeService(req.target, req.templateColour);
    await findService(req.target, req.colour); // the idle service must exist before anything is registered
    const arn =
      (await findTaggedRevision(ecs, template.taskDefinition.family!, req.deploymentId)) ??
      (await registerRevision(ecs, template, req.image, req.deploymentId));
    return updateService(req.target, req.colour, { taskDefinition: arn, desiredCount: req.desiredCount });
  }

  async function scale(target: ComputeTarget, colour: Colour, desiredCount: number): Promise<ServiceState> {
    return updateService(target, colour, { desiredCount });
  }

  /** Set-to-value UpdateService, then read back and insist the service holds what was written. */
  async function updateService(
    target: ComputeTarget,
    colour: Colour,
    change: { taskDefinition?: string; desiredCount: number },
  ): Promise<ServiceState> {
    const name = target.services[colour];
    await orMismatch(() => send(clientFor(target.region), new UpdateServiceCommand({ cluster: target.cluster, service: name, ...change })), {
      ClusterNotFoundException: `ECS cluster '${target.cluster}' not found in ${target.region}`,
      ServiceNotFoundException: `ECS service '${name}' not found in cluster '${target.cluster}' in ${target.region}`,
      ServiceNotActiveException: `ECS service '${name}' in cluster '${target.cluster}' is not active`,
    });
    const state = await describe(target, colour);
    const tdOk = change.taskDefinition === undefined || state.taskDefinitionArn === change.taskDefinition;
    if (!tdOk || state.desiredCount !== change.desiredCount) {
      throw new Error(
        `ECS service '${name}' read back ${state.taskDefinitionArn} x${state.desiredCount} after writing ${change.taskDefinition ?? '(same task definition)'} x${change.desiredCount}`,
      );
    }
    return state;
  }

  return { describe, deployImage, scale };
}

async function readTaskDefinition(ecs: ECSClient, arn: string): Promise<{ taskDefinition: TaskDefinition; tags: Tag[] }> {
  const out = await orMismatch(() => send(ecs, new DescribeTaskDefinitionCommand({ taskDefinition: arn, include: ['TAGS'] })), {
    ClientException: `ECS task definition '${arn}' not found`,
  });
  if (!out.taskDefinition) throw infrastructureMismatch(`ECS task definition '${arn}' not found`);
  return { taskDefinition: out.taskDefinition, tags: out.tags ?? [] };
}

function pickContainer(td: TaskDefinition, name: string | undefined): ContainerDefinition {
  const containers = td.containerDefinitions ?? [];
  const container = name === undefined ? containers[0] : containers.find((c) => c.name === name);
  if (!container) {
    const which = name === undefined ? 'any container' : `container '${name}'`;
    throw infrastructureMismatch(`ECS task definition '${td.taskDefinitionArn}' has no ${which}`);
  }
  return container;
}

function toState({ service, container, tags }: Described): ServiceState {
  const desiredCount = service.desiredCount ?? 0;
  const runningCount = service.runningCount ?? 0;
  const deployments = service.deployments ?? [];
  const primary = primaryOf(deployments);
  const rolledOut = primary !== null && primary.rolloutState !== 'IN_PROGRESS' && primary.rolloutState !== 'FAILED';
  return {
    serviceName: service.serviceName!,
    taskDefinitionArn: service.taskDefinition!,
    image: container.image ?? null,
    desiredCount,
    runningCount,
    primary,
    deployments: deployments.length,
    deployedBy: tags.find((t) => t.key === DEPLOYMENT_TAG)?.value ?? null,
    stable: deployments.length === 1 && rolledOut && runningCount === desiredCount,
  };
}

function primaryOf(deployments: Deployment[]): PrimaryDeployment | null {
  const d = deployments.find((x) => x.status === 'PRIMARY');
  if (!d?.taskDefinition) return null;
  const state = d.rolloutState;
  return {
    taskDefinitionArn: d.taskDefinition,
    rolloutState: state === 'IN_PROGRESS' || state === 'COMPLETED' || state === 'FAILED' ? state : null,
    desiredCount: d.desiredCount ?? 0,
    runningCount: d.runningCount ?? 0,
  };
}

function revisionOf(arn: string): number {
  return Number(arn.slice(arn.lastIndexOf(':') + 1));
}

/** `web` from `arn:aws:ecs:us-east-1:123456789012:task-definition/web:7`. */
function familyOf(arn: string): string {
  const name = arn.slice(arn.indexOf('task-definition/') + 'task-definition/'.length);
  return name.slice(0, name.lastIndexOf(':'));
}

/** The ARNs of exactly `family`, newest first: a familyPrefix listing also holds longer families (`web-canary`). */
export function revisionsOfFamily(arns: string[], family: string): string[] {
  return arns.filter((arn) => familyOf(arn) === family).sort((a, b) => revisionOf(b) - revisionOf(a));
}

/**
 * The newest revision of `family` tagged with this deployment id, if a previous attempt
 * registered one. ListTaskDefinitions only filters by prefix, and sorted DESC it lists longer
 * families (`web-canary` > `web`) before the family itself, so pages are read until
 * RECENT_REVISIONS of the family's own revisions are found. Sorted here as well as by the API,
 * since emulators may ignore `sort`.
 */
async function findTaggedRevision(ecs: ECSClient, family: string, deploymentId: string): Promise<string | undefined> {
  const found: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await send(ecs, new ListTaskDefinitionsCommand({ familyPrefix: family, sort: 'DESC', status: 'ACTIVE', nextToken }));
    found.push(...revisionsOfFamily(page.taskDefinitionArns ?? [], family));
    nextToken = page.nextToken;
  } while (nextToken && found.length < RECENT_REVISIONS);
  for (const arn of revisionsOfFamily(found, family).slice(0, RECENT_REVISIONS)) {
    const { tags } = await readTaskDefinition(ecs, arn);
    if (tags.some((t) => t.key === DEPLOYMENT_TAG && t.value === deploymentId)) return arn;
  }
  return undefined;
}

async function registerRevision(ecs: ECSClient, template: Described, image: string, deploymentId: string): Promise<string> {
  const td = template.taskDefinition;
  const containerDefinitions = (td.containerDefinitions ?? []).map((c) => (c.name === template.container.name ? { ...c, image } : c));
  const tags: Tag[] = [{ key: DEPLOYMENT_TAG, value: deploymentId }];
  const input: RegisterTaskDefinitionCommandInput = {
    family: td.family!,
    containerDefinitions,
    taskRoleArn: td.taskRoleArn,
    executionRoleArn: td.executionRoleArn,
    networkMode: td.networkMode,
    volumes: td.volumes,
    placementConstraints: td.placementConstraints,
    requiresCompatibilities: td.requiresCompatibilities,
    cpu: td.cpu,
    memory: td.memory,
    pidMode: td.pidMode,
    ipcMode: td.ipcMode,
    proxyConfiguration: td.proxyConfiguration,
    inferenceAccelerators: td.inferenceAccelerators,
    ephemeralStorage: td.ephemeralStorage,
    runtimePlatform: td.runtimePlatform,
    tags,
  };
  const out = await send(ecs, new RegisterTaskDefinitionCommand(input));
  const arn = out.taskDefinition?.taskDefinitionArn;
  if (!arn) throw new Error(`ECS did not return an ARN for the new revision of '${td.family}'`);
  return arn;
}
