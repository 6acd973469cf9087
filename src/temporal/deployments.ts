// Client-side deployment operations, shared by the API and the CLI. Errors are typed so each
// caller maps them to its own surface (HTTP status, exit code) without parsing messages.
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import { gateFor, ownEntry, type BatonConfig, type Person, type ServiceEnvironment } from '../config';
import { deploymentActionRefusal, directDeploymentRefusal, type FreezeTerms } from '../domain/policy';
import { deploymentId, laneId, whyActionInvalid, type ActionRequest, type DeploymentStatus } from '../domain/deployment';
import type { DeploymentSpec } from '../domain/types';
import type { DecisionSigner } from './signer';
import { NoSuchRun, readStatus, statusChanged } from './status';
import {
  deploymentActionUpdate,
  deploymentStatusQuery,
  laneCurrentQuery,
  laneSearchAttributes,
  laneStartedUpdate,
  type LaneInput,
} from '../../workflows/messages';

/** Bad input; `field` names the offending field. */
export class BadRequestError extends Error {
  override name = 'BadRequestError';
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** The caller may not do this (the policy, or a gate's rules, refuse them). */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** A conflict or an invalid transition; `details` says what it conflicts with. */
export class ConflictError extends Error {
  override name = 'ConflictError';
  constructor(message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

/** Docker's tag rule, without ':' (ids use it as a separator), at most 64 characters. */
export const VERSION_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$';

export interface DeploymentRequest {
  service: string;
  environment: string;
  version: string;
  requestedBy: string;
  /** Deploying around the environment's gate, with a reason (break-glass role only). */
  breakGlass?: { reason: string } | null;
  /** The API's decision key (public, hex): the run then takes only signed operator actions. */
  decisionKey?: string | null;
}

/** A configured service's settings in one environment; a BadRequestError names what is unknown. */
export function serviceEnvironment(config: Pick<BatonConfig, 'services'>, service: string, environment: string): ServiceEnvironment {
  const svc = ownEntry(config.services, service);
  if (!svc) {
    const known = Object.keys(config.services).join(', ');
    throw new BadRequestError('service', `service: unknown service '${service}' (known: ${known})`);
  }
  const env = ownEntry(svc.environments, environment);
  if (!env) {
    const known = Object.keys(svc.environments).join(', ');
    throw new BadRequestError('environment', `environment: service '${service}' has no environment '${environment}' (known: ${known})`);
  }
  return env;
}

/**
 * A version a deployment or release may name: a valid tag, and not `latest`, which names
 * whatever was pushed last, so an approval or a rollback could not say what it was about.
 */
export function checkVersion(version: string): void {
  if (!new RegExp(VERSION_PATTERN).test(version)) {
    throw new BadRequestError('version', `version: '${version}' is not a valid image tag (letters, digits, '_', '.', '-'; at most 64)`);
  }
  if (version.toLowerCase() === 'latest') {
    throw new BadRequestError('version', `version: '${version}' is a mutable tag; use a version or a digest`);
  }
}

/** Resolves a request against config into the spec the workflow runs with. */
export function buildDeploymentSpec(config: BatonConfig, req: DeploymentRequest): DeploymentSpec {
  const env = serviceEnvironment(config, req.service, req.environment);
  checkVersion(req.version);
  return {
    id: deploymentId(req.service, req.environment, req.version),
    service: req.service,
    environment: req.environment,
    version: req.version,
    image: `${env.image}:${req.version}`,
    requestedBy: req.requestedBy,
    ...(req.breakGlass ? { breakGlass: { by: req.requestedBy, reason: req.breakGlass.reason } } : {}),
    ...(req.decisionKey ? { decisionKey: req.decisionKey } : {}),
    compute: env.compute,
    traffic: env.traffic,
    metrics: env.metrics,
    smokeTestUrls: env.smokeTestUrls,
    thresholds: env.thresholds,
    plan: env.plan,
    notify: config.notifications,
  };
}

/**
 * A person's direct deployment (API or Slack), under the policy every path shares: `deploy` in
 * that environment, releases only into a gated one unless breaking glass with a reason, and no
 * active freeze (unless it allows break-glass). Refused: a ForbiddenError (403) or ConflictError
 * (409), and nothing starts.
 */
export async function deployAs(client: Client, config: BatonConfig, person: Person, req: Omit<DeploymentRequest, 'requestedBy' | 'decisionKey'>, freezes: readonly FreezeTerms[], signer: DecisionSigner | null): Promise<{ id: string; spec: DeploymentSpec }> {
  const spec = buildDeploymentSpec(config, { ...req, requestedBy: person.name, decisionKey: signer?.publicKey ?? null });
  const why = directDeploymentRefusal(config, person, {
    service: req.service,
    environment: req.environment,
    gated: gateFor(config, req.service, req.environment) !== null,
    breakGlass: req.breakGlass ?? null,
    freezes,
    nowMs: Date.now(),
  });
  if (why) throw why.status === 403 ? new ForbiddenError(why.message) : new ConflictError(why.message);
  const { id } = await startDeployment(client, config.temporal.taskQueue, spec);
  return { id, spec };
}

/** An action on a deployment by a person: `deploy` in its environment; promoting in a gated one is break-glass. */
export async function actAs(client: Client, config: BatonConfig, person: Person, id: string, req: Omit<ActionRequest, 'actor'>, signer: DecisionSigner | null): Promise<DeploymentStatus> {
  checkDeploymentId(id);
  const [, service, environment] = id.split(':');
  const gated = Object.hasOwn(config.services, service) && gateFor(config, service, environment) !== null;
  const why = deploymentActionRefusal(config, person, environment, req.action, gated);
  if (why) throw new ForbiddenError(why.message);
  return actOnDeployment(client, id, { ...req, actor: person.name } as ActionRequest, signer);
}

/**
 * Starts a deployment through its service+environment lane. Race-free: the lane id is unique
 * while running (FAIL conflict policy), so of two simultaneous starts exactly one wins; the
 * other gets a ConflictError naming the running deployment.
 */
export async function startDeployment(client: Client, taskQueue: string, spec: DeploymentSpec): Promise<{ id: string }> {
  const lane = laneId(spec.service, spec.environment);
  const start = new WithStartWorkflowOperation('deploymentLane', {
    workflowId: lane,
    taskQueue,
    args: [{ spec } satisfies LaneInput],
    workflowIdConflictPolicy: 'FAIL',
    staticSummary: `Lane for ${spec.service} in ${spec.environment}: ${spec.id}`,
    typedSearchAttributes: laneSearchAttributes(spec),
  });
  try {
    const { deploymentId: id } = await client.workflow.executeUpdateWithStart(laneStartedUpdate, { startWorkflowOperation: start });
    statusChanged(client, id); // a new run of an id that ran before: no read may answer with the old one
    return { id };
  } catch (err) {
    if (isAlreadyStarted(err)) {
      const running = await runningDeploymentOf(client, lane);
      throw new ConflictError(
        `${spec.service} is already deploying to ${spec.environment}${running ? ` (${running})` : ''}`,
        running ? { runningId: running } : {},
      );
    }
    throw err;
  }
}

function isAlreadyStarted(err: unknown): boolean {
  if (err instanceof WorkflowExecutionAlreadyStartedError) return true;
  const cause = (err as { cause?: unknown })?.cause;
  return cause instanceof WorkflowExecutionAlreadyStartedError;
}

async function runningDeploymentOf(client: Client, lane: string): Promise<string | null> {
  try {
    return (await client.workflow.getHandle(lane).query(laneCurrentQuery)).deploymentId;
  } catch {
    return null;
  }
}

/**
 * The deployment of a service+environment that still runs, or null: one progressing (its lane
 * runs), or one that is live and in its tail (its lane has ended, and it can still be rolled back).
 */
export async function runningDeployment(client: Client, service: string, environment: string): Promise<string | null> {
  const lane = client.workflow.getHandle(laneId(service, environment));
  try {
    // A closed lane still answers queries, with its last deployment.
    const { deploymentId } = await lane.query(laneCurrentQuery);
    const d = await client.workflow.getHandle(deploymentId).describe();
    return d.status.name === 'RUNNING' ? deploymentId : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

function checkDeploymentId(id: string): void {
  if (!/^deploy:[^:]+:[^:]+:[^:]+$/.test(id)) throw new NotFoundError(`no deployment '${id}' (ids look like deploy:<service>:<environment>:<version>)`);
}

/**
 * A run's status, as its status query answers; an unknown id is a NotFoundError naming the kind
 * of run. A finished run's comes from what it kept as it ended, a running run's from one query
 * per id at a time, shared by the requests that arrive meanwhile (status.ts).
 */
export async function queryStatus<T>(client: Client, id: string, query: QueryDefinition<T>, kind: string): Promise<T> {
  try {
    return await readStatus(client, id, query);
  } catch (err) {
    if (err instanceof NoSuchRun) throw new NotFoundError(`no ${kind} '${id}'`);
    throw err;
  }
}

/**
 * A closed workflow answers "not found" to Updates: tells "ended" (with its outcome, else the
 * run's status) from "never existed" (null, as while it runs).
 */
export async function howEnded(client: Client, id: string, query: QueryDefinition<{ outcome: string | null }>): Promise<string | null> {
  const handle = client.workflow.getHandle(id);
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return null;
    const outcome = await readStatus(client, id, query).then((st) => st.outcome, () => null);
    return outcome ?? d.status.name.toLowerCase();
  } catch {
    return null;
  }
}

export function getDeploymentStatus(client: Client, id: string): Promise<DeploymentStatus> {
  checkDeploymentId(id);
  return queryStatus(client, id, deploymentStatusQuery, 'deployment');
}

/** Why the deployment's current status refuses `req`, in its validator's words; null when the workflow must decide (or the run is unknown: the Update says so). */
async function refusalShown(client: Client, id: string, req: ActionRequest): Promise<string | null> {
  try {
    const status = await readStatus(client, id, deploymentStatusQuery);
    const why = whyActionInvalid({ phase: status.phase, paused: status.paused, wait: status.soak?.kind ?? null, rollbackRequested: status.rollback !== null }, req);
    return why ? `${req.action}: ${why}` : null;
  } catch (err) {
    if (err instanceof NoSuchRun) return null;
    throw err;
  }
}

/**
 * Sends an operator action; an invalid transition is a ConflictError and changes nothing.
 *
 * An action that the run's status, as of its latest history, already shows to be invalid is
 * refused from that status, by the rule its validator applies (`whyActionInvalid`), without an
 * Update: Temporal runs one workflow's Update validators one at a time, so refused actions on
 * one run queued behind each other (59 a second, p99 4 s, at 100 a second offered). An action
 * the status allows still goes to the workflow, whose validator decides.
 */
export async function actOnDeployment(client: Client, id: string, req: ActionRequest, signer: DecisionSigner | null = null): Promise<DeploymentStatus> {
  checkDeploymentId(id);
  const shown = await refusalShown(client, id, req);
  if (shown) throw new ConflictError(shown, { action: req.action });
  const handle = client.workflow.getHandle(id);
  try {
    const status = await handle.executeUpdate(deploymentActionUpdate, { args: [signer ? signer.sign(id, deploymentActionUpdate.name, req) : req] });
    statusChanged(client, id);
    return status;
  } catch (err) {
    // The validator refuses an invalid transition (InvalidTransition); nothing changed.
    if (err instanceof WorkflowUpdateFailedError) throw new ConflictError(err.cause?.message ?? err.message, { action: req.action });
    if (err instanceof WorkflowNotFoundError) {
      const ended = await howEnded(client, id, deploymentStatusQuery);
      if (ended) throw new ConflictError(`the deployment has ended (${ended})`, { action: req.action });
      throw new NotFoundError(`no deployment '${id}'`);
    }
    throw err;
  }
}
