// Client-side failover operations, shared by the API and the schedules: resolve a request against
// config (service, environment, direction, mode, who may start it), preview its plan, start it,
// read it, decide on it, cancel it. The rules of the run itself live in workflows/failover.ts;
// refusals map to typed errors (BadRequestError 400, ForbiddenError 403, NotFoundError 404,
// ConflictError 409). The API holds no AWS credentials: the preview reads the latest readiness
// report, which the worker's schedule wrote.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { TypedSearchAttributes, type UpdateDefinition } from '@temporalio/common';
import { ownEntry, type BatonConfig, type Person } from '../config';
import type { DrSpec, ReadinessReport } from '../domain/failover';
import { directionOf, failoverId, planSteps, type FailoverMode, type PlannedStep } from '../domain/failover-run';
import { decidersOf } from '../domain/gates';
import { compactStamp, INSTANT_RULE, parseInstant } from '../domain/instants';
import {
  BatonEnvironment,
  BatonKind,
  BatonPhase,
  BatonService,
  BatonVersion,
  failoverApprovalUpdate,
  failoverCancelUpdate,
  failoverStatusQuery,
  type CancelInput,
  type FailoverDecisionInput,
  type FailoverInput,
  type FailoverStatus,
} from '../../workflows/messages';
import { BadRequestError, ConflictError, NotFoundError, howEnded, queryStatus } from './deployments';
import { statusChanged } from './status';
import { ForbiddenError } from './releases';
import { latestReadiness } from './readiness';
import { refusal } from './refusals';
import type { DecisionSigner } from './signer';

export interface FailoverRequestBody {
  service: string;
  environment: string;
  fromRegion: string;
  toRegion: string;
  mode: FailoverMode;
  reason: string;
  detectedAt?: string | null;
}

/** One service environment's DR posture from config; an unknown one is a 400 naming what exists. */
export function drSpecOf(config: Pick<BatonConfig, 'services'>, service: string, environment: string): DrSpec {
  const svc = ownEntry(config.services, service);
  if (!svc) throw new BadRequestError('service', `service: unknown service '${service}' (known: ${Object.keys(config.services).join(', ')})`);
  const spec = ownEntry(svc.dr ?? {}, environment);
  if (!spec) {
    const has = Object.keys(svc.dr ?? {});
    throw new BadRequestError('environment', `environment: service '${service}' has no DR config for '${environment}' (${has.length ? `it has DR for ${has.join(', ')}` : `config declares none under services.${service}.dr`})`);
  }
  return spec;
}

interface Resolved {
  spec: DrSpec;
  steps: PlannedStep[];
  detectedAt: string | null;
}

/**
 * A request checked against config and the caller: the direction fits the mode, a drill is
 * allowed there, an emergency is started by someone with the emergency role.
 */
function resolve(config: BatonConfig, body: FailoverRequestBody, person: Pick<Person, 'name' | 'roles'> | null): Resolved {
  const spec = drSpecOf(config, body.service, body.environment);
  const way = directionOf(spec, body.mode, body.fromRegion, body.toRegion);
  if (!way.ok) throw new BadRequestError(way.field, way.message);
  if (body.mode === 'drill' && !spec.drills.allowed) {
    throw new BadRequestError('mode', `mode: drills are not allowed for ${body.service} in ${body.environment} (set services.${body.service}.dr.${body.environment}.drills.allowed: true)`);
  }
  if (body.mode === 'emergency' && person && !person.roles.includes(spec.emergency.role) && !person.roles.includes('admin')) {
    throw new ForbiddenError(`${person.name} may not start an emergency failover: it needs role ${spec.emergency.role} (a planned failover waits for approval instead)`);
  }
  let detectedAt: string | null = null;
  if (body.detectedAt !== undefined && body.detectedAt !== null) {
    const ms = parseInstant(body.detectedAt);
    if (ms === null) throw new BadRequestError('detectedAt', `detectedAt: '${body.detectedAt}' is not ${INSTANT_RULE}`);
    if (ms > Date.now() + 60_000) throw new BadRequestError('detectedAt', `detectedAt: ${body.detectedAt} is in the future`);
    detectedAt = new Date(ms).toISOString();
  }
  return { spec, steps: planSteps(spec, body.mode, way.direction), detectedAt };
}

export interface FailoverPreview {
  service: string;
  environment: string;
  mode: FailoverMode;
  fromRegion: string;
  toRegion: string;
  steps: PlannedStep[];
  objectives: DrSpec['objectives'];
  approvals: DrSpec['approvals'];
  emergency: DrSpec['emergency'];
  /** The latest readiness checks (the preflight a run repeats); null: not checked yet. */
  readiness: ReadinessReport | null;
  /** The running failover of this service environment, if any: a new one would be refused. */
  runningId: string | null;
}

/** What a failover would do, and how ready the DR region looked at the last readiness check. Changes nothing. */
export async function previewFailover(client: Client, config: BatonConfig, body: FailoverRequestBody, person: Pick<Person, 'name' | 'roles'>): Promise<FailoverPreview> {
  const r = resolve(config, body, person);
  const readiness = (await latestReadiness(client, config)).find((e) => e.service === body.service && e.environment === body.environment)?.report ?? null;
  return {
    service: body.service,
    environment: body.environment,
    mode: body.mode,
    fromRegion: body.fromRegion,
    toRegion: body.toRegion,
    steps: r.steps,
    objectives: r.spec.objectives,
    approvals: r.spec.approvals,
    emergency: r.spec.emergency,
    readiness,
    runningId: await runningFailover(client, body.service, body.environment),
  };
}

/** The running failover of a service environment, or null (visibility: two starts in the same instant are not excluded). */
async function runningFailover(client: Client, service: string, environment: string): Promise<string | null> {
  // A run that has ended (outcome set) but still flushes its Slack thread does not count.
  const query = `BatonKind = 'failover' AND BatonService = '${service}' AND BatonEnvironment = '${environment}' AND ExecutionStatus = 'Running' AND BatonOutcome IS NULL`;
  for await (const wf of client.workflow.list({ query })) return wf.workflowId;
  return null;
}

/**
 * Starts a failover; 409 while another of the same service environment runs. `person` null: a
 * schedule (drills). With `signer` (the API), the run takes only decisions the API signed, by
 * the people config names now (approvers, confirmers, who may cancel, admins, the requester),
 * judged by their roles now.
 */
export async function startFailover(
  client: Client,
  config: BatonConfig,
  body: FailoverRequestBody,
  person: Pick<Person, 'name' | 'roles'> | null,
  requestedBy: string,
  signer: DecisionSigner | null = null,
): Promise<{ id: string }> {
  const r = resolve(config, body, person);
  const running = await runningFailover(client, body.service, body.environment);
  if (running) throw new ConflictError(`${body.service} in ${body.environment} already has a failover running (${running})`, { runningId: running });
  const id = failoverId(body.service, body.environment, body.mode, compactStamp(Date.now()));
  const input: FailoverInput = {
    id,
    mode: body.mode,
    request: { service: body.service, environment: body.environment, fromRegion: body.fromRegion, toRegion: body.toRegion, reason: body.reason, requestedBy, detectedAt: r.detectedAt },
    spec: r.spec,
    notify: config.notifications,
    people: decidersOf(config.people, [...r.spec.approvals.map((a) => a.role), r.spec.emergency.role, ...config.cancelRoles], requestedBy),
    cancelRoles: [...config.cancelRoles],
    decisionKey: signer?.publicKey ?? null,
  };
  try {
    await client.workflow.start('failover', {
      taskQueue: config.temporal.taskQueue,
      workflowId: id,
      args: [input],
      staticSummary: `${body.mode} failover of ${body.service} ${body.environment}: ${body.fromRegion} → ${body.toRegion}`,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: BatonKind, value: 'failover' },
        { key: BatonService, value: body.service },
        { key: BatonEnvironment, value: body.environment },
        { key: BatonVersion, value: body.mode },
        { key: BatonPhase, value: 'planning' },
      ]),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new ConflictError(`${body.service} in ${body.environment} already has a failover started this second (${id})`, { runningId: id });
    throw err;
  }
  return { id };
}

// A scheduled drill's id ends in the schedule's timestamp (`...:drill-2026-11-29T10:00:00Z`).
const FAILOVER_ID = /^failover:[^:]+:[^:]+:(planned|emergency|failback|drill)-\S+$/;

function checkId(id: string): void {
  if (!FAILOVER_ID.test(id)) throw new NotFoundError(`no failover '${id}' (ids look like failover:<service>:<environment>:<mode>-<time>)`);
}

export function getFailoverStatus(client: Client, id: string): Promise<FailoverStatus> {
  checkId(id);
  return queryStatus(client, id, failoverStatusQuery, 'failover');
}

/** How to send a decision: `signer` signs it for the run (the API always does; a run with a decision key refuses unsigned ones). */
export interface FailoverUpdateOptions {
  signer?: DecisionSigner | null;
}

export function decideFailover(client: Client, id: string, decision: FailoverDecisionInput, options: FailoverUpdateOptions = {}): Promise<FailoverStatus> {
  return update(client, id, failoverApprovalUpdate, decision, 'decision', options);
}

export function cancelFailover(client: Client, id: string, cancel: CancelInput, options: FailoverUpdateOptions = {}): Promise<FailoverStatus> {
  return update(client, id, failoverCancelUpdate, cancel, 'reason', options);
}

async function update<A extends object>(client: Client, id: string, def: UpdateDefinition<FailoverStatus, [A]>, arg: A, field: string, { signer }: FailoverUpdateOptions): Promise<FailoverStatus> {
  checkId(id);
  try {
    const signed = signer ? signer.sign(id, def.name, arg) : arg;
    const status = await client.workflow.getHandle(id).executeUpdate(def, { args: [signed] });
    statusChanged(client, id);
    return status;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw refusal(err, field);
    if (err instanceof WorkflowNotFoundError) {
      const ended = await howEnded(client, id, failoverStatusQuery);
      if (ended) throw new ConflictError(`the failover has ended (${ended})`);
      throw new NotFoundError(`no failover '${id}'`);
    }
    throw err;
  }
}
