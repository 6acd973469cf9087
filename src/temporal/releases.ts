// Client-side release operations, shared by the API and the CLI. The rules (who may approve,
// when a gate opens, expiry) live in the release workflow and its validators; this module
// resolves a request against config, starts the workflow and maps what the workflow refuses
// to typed errors (BadRequestError 400, ForbiddenError 403, NotFoundError 404, ConflictError 409).
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { TypedSearchAttributes, type UpdateDefinition } from '@temporalio/common';
import { gateFor, ownEntry, type BatonConfig } from '../config';
import { releaseId } from '../domain/release';
import {
  BatonKind,
  BatonPhase,
  BatonService,
  BatonVersion,
  releaseApprovalUpdate,
  releaseCancelUpdate,
  releaseCheckUpdate,
  releaseStatusQuery,
  type ApprovalInput,
  type CancelInput,
  type CheckInput,
  type ReleaseInput,
  type ReleaseStage,
  type ReleaseStatus,
} from '../../workflows/messages';
import { BadRequestError, ConflictError, NotFoundError, buildDeploymentSpec, checkVersion, howEnded, queryStatus } from './deployments';
import { statusChanged } from './status';
import { refusal } from './refusals';
import type { DecisionSigner } from './signer';
import { checkRuleOf } from '../domain/policy';
import { imageRepository } from '../domain/spec-check';
import type { DeploymentSpec } from '../domain/types';
import { RegistryError, type ImageRegistry } from '../providers/types';

export { ForbiddenError } from './refusals';

/** An image digest as registries write it (releases take one instead of resolving the tag). */
export const DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';

export interface ReleaseRequestInput {
  service: string;
  version: string;
  hotfix?: boolean;
  requestedBy: string;
  /**
   * The image digest (`sha256:<hex>`) every environment deploys (resolveReleaseDigest); without
   * it, each deploys the tag `version` (tests that start release workflows by hand).
   */
  digest?: string | null;
}

/** The service's configured service entry, or a BadRequestError naming the known ones. */
function serviceOf(config: BatonConfig, name: string) {
  const service = ownEntry(config.services, name);
  if (!service) {
    const known = Object.keys(config.services).join(', ');
    throw new BadRequestError('service', `service: unknown service '${name}' (known: ${known})`);
  }
  return service;
}

/**
 * The digest a release of `service` `version` deploys everywhere, decided once when it starts:
 * an approval in staging then binds the bytes that reach prod, whoever pushes the tag again.
 * Without `digest`, what the tag points to in the registry now (an unknown tag: 400 naming
 * `version`). With a `digest` (CI pins what it built), that one, unless the registry says the
 * tag points elsewhere (409 naming both) or knows no such image (400 naming `digest`); a
 * registry that cannot be asked or read leaves the caller's digest standing. The registry not
 * answering otherwise is a RegistryError of kind `unavailable` (the API answers 503).
 */
export async function resolveReleaseDigest(
  config: BatonConfig,
  req: { service: string; version: string; digest?: string | null },
  registry: ImageRegistry,
): Promise<string> {
  const service = serviceOf(config, req.service);
  checkVersion(req.version);
  if (req.digest != null && !new RegExp(DIGEST_PATTERN).test(req.digest)) {
    throw new BadRequestError('digest', `digest: '${req.digest}' is not an image digest (sha256: and 64 lowercase hex digits)`);
  }
  // Every environment of a service runs the same repository; the first one's region is where to ask.
  const first = config.promotion.map((env) => ownEntry(service.environments, env)).find((e) => e !== undefined);
  if (!first) {
    throw new BadRequestError('service', `service: '${req.service}' runs in none of the promotion's environments (${config.promotion.join(', ')})`);
  }
  const repository = imageRepository(first.image);
  const region = first.compute.region;
  const given = req.digest ?? null;
  let tagged: string | null;
  try {
    tagged = await registry.resolveDigest(repository, req.version, region);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    if (err.kind === 'unsupported') {
      if (given) return given;
      throw new BadRequestError('version', `version: ${err.message}; give the digest of ${repository}:${req.version} in the request (digest: sha256:...)`);
    }
    if (err.kind === 'unavailable') {
      if (given) return given;
      throw err;
    }
    if (!given) throw new BadRequestError('version', `version: ${err.message}`);
    tagged = null;
  }
  if (!given) return tagged!;
  if (tagged === given) return given;
  if (tagged !== null) {
    throw new ConflictError(`digest: ${repository}:${req.version} points to ${tagged}, not to the digest given (${given}): the tag was pushed again, or the digest is of another build`);
  }
  // No such tag: the digest itself must be in the repository.
  let there: boolean;
  try {
    there = await registry.hasDigest(repository, given, region);
  } catch (err) {
    if (err instanceof RegistryError && err.kind === 'unavailable') return given;
    throw err instanceof RegistryError ? new BadRequestError('digest', `digest: ${err.message}`) : err;
  }
  if (!there) throw new BadRequestError('digest', `digest: there is no image ${given} (nor a tag ${req.version}) in ${repository}`);
  return given;
}

/**
 * Resolves a request against config into the workflow's input: the promotion order narrowed
 * to the environments the service runs in, each with its gate, train and deployment spec.
 */
export function buildReleaseInput(config: BatonConfig, req: ReleaseRequestInput, signer: DecisionSigner | null = null): ReleaseInput {
  const service = serviceOf(config, req.service);
  checkVersion(req.version);
  const digest = req.digest ?? null;
  const hotfix = req.hotfix ?? false;
  if (hotfix && !config.hotfix) {
    throw new BadRequestError('hotfix', 'hotfix: this Baton takes no hotfix releases (config has no hotfix.approvalRole)');
  }
  const environments = config.promotion.filter((env) => ownEntry(service.environments, env) !== undefined);
  if (environments.length === 0) {
    throw new BadRequestError('service', `service: '${req.service}' runs in none of the promotion's environments (${config.promotion.join(', ')})`);
  }
  const stages: ReleaseStage[] = environments.map((environment) => {
    const gate = gateFor(config, req.service, environment);
    return {
      environment,
      gate,
      train: gate?.train ? (ownEntry(config.trains, gate.train) ?? null) : null,
      deployment: pinned(buildDeploymentSpec(config, { service: req.service, environment, version: req.version, requestedBy: req.requestedBy, decisionKey: signer?.publicKey ?? null }), digest),
    };
  });
  // The people whose decisions can count on this release, as config says now: approvers,
  // attesters, who may cancel, the hotfix role, admins, and the requester.
  const named = new Set<string>(['admin', ...config.cancelRoles]);
  for (const st of stages) for (const a of st.gate?.approvals ?? []) named.add(a.role);
  if (config.hotfix) named.add(config.hotfix.approvalRole);
  const checkRules = { named: { ...config.checks }, default: checkRuleOf(config, '') };
  for (const rule of [checkRules.default, ...Object.values(checkRules.named)]) for (const r of rule.attestedBy) named.add(r);
  const people = config.people
    .filter((p) => p.name === req.requestedBy || p.roles.some((r) => named.has(r)))
    .map((p) => ({ name: p.name, roles: [...p.roles] }));
  return {
    request: { service: req.service, version: req.version, hotfix, requestedBy: req.requestedBy, ...(digest ? { digest } : {}) },
    id: releaseId(req.service, req.version),
    stages,
    freezes: config.freezes,
    hotfixApprovalRole: config.hotfix?.approvalRole ?? null,
    notify: config.notifications,
    people,
    checkRules,
    cancelRoles: [...config.cancelRoles],
    decisionKey: signer?.publicKey ?? null,
  };
}

/** The spec deploying `repository@digest` instead of the tag (the id and version still name the tag). */
function pinned(spec: DeploymentSpec, digest: string | null): DeploymentSpec {
  return digest ? { ...spec, image: `${imageRepository(spec.image)}@${digest}` } : spec;
}

/**
 * Starts a release. One run per id at a time (FAIL while running: a ConflictError naming it);
 * a release that has ended may be started again.
 */
export async function startRelease(client: Client, taskQueue: string, input: ReleaseInput): Promise<{ id: string }> {
  try {
    return await startReleaseOnce(client, taskQueue, input);
  } catch (err) {
    // A release whose status already shows its outcome may still be finishing (its last Slack
    // messages): the person who read "expired" and starts again waits for that, not a 409.
    if (!(err instanceof ConflictError) || !(await endingWithin(client, input.id, ENDING_WAIT_MS))) throw err;
    return startReleaseOnce(client, taskQueue, input);
  }
}

/** How long a start waits for a release that has its outcome to close (inside the API's 4 s deadline). */
const ENDING_WAIT_MS = 3_000;

/** Whether the running release `id` has an outcome and closes within `ms`. */
async function endingWithin(client: Client, id: string, ms: number): Promise<boolean> {
  const handle = client.workflow.getHandle(id);
  const outcome = await handle.query(releaseStatusQuery).then((s) => s.outcome, () => null);
  if (outcome === null) return false;
  let timer: NodeJS.Timeout | undefined;
  // A release that ends other than succeeded fails its run: that is closed too. Anything else (a deadline) is not known to be.
  const closed = handle.result().then(() => true, (err: unknown) => err instanceof WorkflowFailedError);
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function startReleaseOnce(client: Client, taskQueue: string, input: ReleaseInput): Promise<{ id: string }> {
  const { service, version, hotfix } = input.request;
  const route = input.stages.map((s) => s.environment).join(' → ');
  try {
    await client.workflow.start('release', {
      workflowId: input.id,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `Release ${service} ${version}${hotfix ? ' (hotfix)' : ''} ${route}`,
      staticDetails: `Requested by ${input.request.requestedBy}.${input.request.digest ? ` Image \`${input.stages[0].deployment.image}\` in every environment.` : ''}`,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: BatonKind, value: 'release' },
        { key: BatonService, value: service },
        { key: BatonVersion, value: version },
        { key: BatonPhase, value: 'gate_open' },
      ]),
    });
    return { id: input.id };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new ConflictError(`${service} ${version} is already being released (${input.id})`, { runningId: input.id });
    }
    throw err;
  }
}

const RELEASE_ID = /^release:[^:]+:[^:]+$/;

function checkReleaseId(id: string): void {
  if (!RELEASE_ID.test(id)) throw new NotFoundError(`no release '${id}' (ids look like release:<service>:<version>)`);
}

export function getReleaseStatus(client: Client, id: string): Promise<ReleaseStatus> {
  checkReleaseId(id);
  return queryStatus(client, id, releaseStatusQuery, 'release');
}

/** Records a check (CI, security scan...); the newest record of each name counts. */
export function postCheck(client: Client, id: string, check: CheckInput, options: UpdateOptions = {}): Promise<ReleaseStatus> {
  return updateRelease(client, id, releaseCheckUpdate, check, 'name', options);
}

/** How to send an Update. */
export interface UpdateOptions {
  /**
   * The Update's id: Temporal runs an Update with a given id once per run and answers a repeat
   * with the first one's result, so a retried or replayed request (a Slack interaction sent
   * twice, a double click) decides once. Default: a fresh id.
   */
  updateId?: string;
  /** Signs the decision for the run (the API always does; a run with a decision key refuses unsigned ones). */
  signer?: DecisionSigner | null;
}

/** Approves or rejects the open gate as `decision.by`; a refusal is a ForbiddenError or a ConflictError. */
export function decide(client: Client, id: string, decision: ApprovalInput, options: UpdateOptions = {}): Promise<ReleaseStatus> {
  return updateRelease(client, id, releaseApprovalUpdate, decision, 'environment', options);
}

/** Cancels the release; a deployment in flight rolls back. */
export function cancelRelease(client: Client, id: string, cancel: CancelInput, options: UpdateOptions = {}): Promise<ReleaseStatus> {
  return updateRelease(client, id, releaseCancelUpdate, cancel, 'reason', options);
}

/**
 * Sends an Update and maps its refusal: the validators put the HTTP status in the failure's
 * details (`[{status}]`); a refused Update changes nothing. `field` names the input a 400 is about.
 */
async function updateRelease<A extends object>(
  client: Client,
  id: string,
  update: UpdateDefinition<ReleaseStatus, [A]>,
  arg: A,
  field: string,
  options: UpdateOptions = {},
): Promise<ReleaseStatus> {
  checkReleaseId(id);
  try {
    const { updateId, signer } = options;
    const signed = signer ? signer.sign(id, update.name, arg) : arg;
    const status = await client.workflow.getHandle(id).executeUpdate(update, { args: [signed], ...(updateId ? { updateId } : {}) });
    statusChanged(client, id);
    return status;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw refusal(err, field);
    if (err instanceof WorkflowNotFoundError) {
      const ended = await howEnded(client, id, releaseStatusQuery);
      if (ended) throw new ConflictError(`the release has ended (${ended})`);
      throw new NotFoundError(`no release '${id}'`);
    }
    throw err;
  }
}
