// Freezes, client side, shared by the API and the CLI. Two sources: the config file's (ids
// `config-<n>`; they change only with the file) and those declared through the API (ids
// `freeze-<n>`), held by the freeze registry workflow (workflows/freezes.ts), which tells every
// running release when they change. A declaration is checked against config here first (its
// environments, its instants), then by the registry's validator; a refusal changes nothing.
import {
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { BatonConfig } from '../config';
import { INSTANT_RULE, parseInstant } from '../domain/instants';
import type { Freeze } from '../domain/release';
import {
  BatonKind,
  FREEZE_REGISTRY_ID,
  declareFreezeUpdate,
  freezesQuery,
  liftFreezeUpdate,
  type FreezeRegistryInput,
} from '../../workflows/messages';
import { BadRequestError, ConflictError, NotFoundError } from './deployments';
import { refusal } from './refusals';

/** The workflow type of the registry (workflows/freezes.ts). */
const REGISTRY_WORKFLOW_TYPE = 'freezeRegistry';

/** A freeze as the API shows it: every field present (`declaredBy`/`declaredAt` are null for config's). */
export interface FreezeRecord {
  /** `config-<n>` or `freeze-<n>`. */
  id: string;
  /** ISO instants (UTC): the freeze holds in [from, to). */
  from: string;
  to: string;
  environments: string[];
  reason: string;
  source: 'config' | 'api';
  declaredBy: string | null;
  declaredAt: string | null;
  /** Whether a break-glass deployment may go ahead during it. */
  allowBreakGlass: boolean;
}

/** A listed freeze, and whether it holds now. */
export interface ListedFreeze extends FreezeRecord {
  active: boolean;
}

export interface FreezeDeclaration {
  from: string;
  to: string;
  environments: string[];
  reason: string;
  allowBreakGlass?: boolean;
  /** Who declares it (the caller). */
  by: string;
}

function recordOf(f: Freeze, source: FreezeRecord['source']): FreezeRecord {
  return {
    id: f.id ?? '',
    from: f.from,
    to: f.to,
    environments: [...f.environments],
    reason: f.reason,
    source,
    declaredBy: f.declaredBy ?? null,
    declaredAt: f.declaredAt ?? null,
    allowBreakGlass: f.allowBreakGlass ?? false,
  };
}

/** The registry's freezes; none while it does not exist (it starts with the first declaration). */
async function registryFreezes(client: Client): Promise<Freeze[]> {
  try {
    return (await client.workflow.getHandle(FREEZE_REGISTRY_ID).query(freezesQuery)).freezes;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return [];
    throw err;
  }
}

/**
 * Every freeze: config's (all of them, as the file says), then those declared through the API
 * that have not ended (the registry drops ended ones at its next change), in declaration order.
 */
export async function listFreezes(client: Client, config: Pick<BatonConfig, 'freezes'>, nowMs = Date.now()): Promise<ListedFreeze[]> {
  const api = (await registryFreezes(client)).filter((f) => Date.parse(f.to) > nowMs);
  const all = [...config.freezes.map((f) => recordOf(f, 'config')), ...api.map((f) => recordOf(f, 'api'))];
  return all.map((f) => ({ ...f, active: Date.parse(f.from) <= nowMs && nowMs < Date.parse(f.to) }));
}

/** One freeze by id; a NotFoundError for an unknown one. */
export async function getFreeze(client: Client, config: Pick<BatonConfig, 'freezes'>, id: string): Promise<ListedFreeze> {
  const found = (await listFreezes(client, config)).find((f) => f.id === id);
  if (!found) throw new NotFoundError(`no freeze '${id}'`);
  return found;
}

/** Refuses a declaration that config or the calendar rules out (a BadRequestError naming the field). */
export function checkDeclaration(config: Pick<BatonConfig, 'environments'>, d: Omit<FreezeDeclaration, 'by'>, nowMs = Date.now()): void {
  const from = parseInstant(d.from);
  if (from === null) throw new BadRequestError('from', `from: '${d.from}' is not ${INSTANT_RULE}`);
  const to = parseInstant(d.to);
  if (to === null) throw new BadRequestError('to', `to: '${d.to}' is not ${INSTANT_RULE}`);
  if (to <= from) throw new BadRequestError('to', `to: must be after from (${d.from})`);
  if (to <= nowMs) throw new BadRequestError('to', `to: ${d.to} has already passed; a freeze must end in the future`);
  if (d.environments.length === 0) throw new BadRequestError('environments', 'environments: name at least one environment');
  d.environments.forEach((env, i) => {
    if (!Object.hasOwn(config.environments, env)) {
      const known = Object.keys(config.environments).join(', ');
      throw new BadRequestError(`environments.${i}`, `environments.${i}: '${env}' is not an environment (known: ${known})`);
    }
  });
  if (!d.reason.trim()) throw new BadRequestError('reason', 'reason: say why (it is shown wherever the freeze holds a release)');
}

/**
 * Declares a freeze as `d.by`, starting the registry if it is not running yet (one Update with
 * start: two first declarations at once both land in the one registry). Answers the recorded
 * freeze with its id; running releases are told of it at once.
 */
export async function declareFreeze(client: Client, taskQueue: string, config: Pick<BatonConfig, 'environments'>, d: FreezeDeclaration): Promise<FreezeRecord> {
  checkDeclaration(config, d);
  const start = new WithStartWorkflowOperation(REGISTRY_WORKFLOW_TYPE, {
    workflowId: FREEZE_REGISTRY_ID,
    taskQueue,
    args: [{} satisfies FreezeRegistryInput],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: 'Freezes declared through the API',
    staticDetails: 'Declared with POST /v1/freezes, lifted with DELETE /v1/freezes/:id. Config freezes are not here: they live in the config file.',
    typedSearchAttributes: new TypedSearchAttributes([{ key: BatonKind, value: 'freezes' }]),
  });
  try {
    const freeze = await client.workflow.executeUpdateWithStart(declareFreezeUpdate, {
      args: [{ from: d.from, to: d.to, environments: d.environments, reason: d.reason, by: d.by, ...(d.allowBreakGlass ? { allowBreakGlass: true } : {}) }],
      startWorkflowOperation: start,
    });
    return recordOf(freeze, 'api');
  } catch (err) {
    // The registry's messages start with the field they are about ("to: ...").
    if (err instanceof WorkflowUpdateFailedError) throw refusal(err, /^([\w.]+):/.exec(err.cause?.message ?? '')?.[1] ?? 'body');
    throw err;
  }
}

/**
 * Lifts a freeze declared through the API, as `by`; running releases are told at once. A config
 * freeze is a ConflictError (only the file lifts it); an unknown id, or one that has ended, a
 * NotFoundError.
 */
export async function liftFreeze(client: Client, config: Pick<BatonConfig, 'freezes'>, id: string, by: string): Promise<FreezeRecord> {
  if (config.freezes.some((f) => f.id === id)) {
    throw new ConflictError(`freeze '${id}' is declared in config: change the config file to lift it`);
  }
  if (id.startsWith('config-')) throw new NotFoundError(`no freeze '${id}' in config`);
  try {
    const freeze = await client.workflow.getHandle(FREEZE_REGISTRY_ID).executeUpdate(liftFreezeUpdate, { args: [{ id, by }] });
    return recordOf(freeze, 'api');
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw refusal(err, 'id');
    if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`no freeze '${id}'`);
    throw err;
  }
}
