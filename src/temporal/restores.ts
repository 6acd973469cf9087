// Client-side restore and backup operations, shared by the API and the CLI. The API holds no
// database or AWS credentials: a plan preview, a backup and a listing are short workflows whose
// activities run on the worker. The rules (approvals, what a restore does and undoes) live in
// workflows/restore.ts; this module resolves requests against config and maps refusals to
// typed errors (BadRequestError 400, ForbiddenError 403, NotFoundError 404, ConflictError 409).
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { TypedSearchAttributes, type UpdateDefinition } from '@temporalio/common';
import { ownEntry, type BatonConfig } from '../config';
import type { BackupInfo, BackupKind, Inventory } from '../domain/database';
import { decidersOf } from '../domain/gates';
import { compactStamp, parseInstant, INSTANT_RULE } from '../domain/instants';
import { drillFlags, restoreId, type DatabaseSpec, type RestorePlan, type RestoreTarget, type RunRecord } from '../domain/restore';
import {
  BatonEnvironment,
  BatonKind,
  BatonPhase,
  BatonService,
  BatonVersion,
  restoreApprovalUpdate,
  restoreCancelUpdate,
  restoreStatusQuery,
  type ApprovalInput,
  type CancelInput,
  type RestoreInput,
  type RestoreStatus,
} from '../../workflows/messages';
import { BadRequestError, ConflictError, NotFoundError, howEnded, queryStatus } from './deployments';
import { statusChanged } from './status';
import { refusal } from './refusals';
import type { DecisionSigner } from './signer';

export interface RestoreRequestBody {
  environment: string;
  database: string;
  target: RestoreTarget;
  reason: string;
  incidentAt?: string | null;
}

/** One database in one environment, from config; an unknown one is a 400 naming what exists. */
export function databaseSpec(config: Pick<BatonConfig, 'databases'>, database: string, environment: string): DatabaseSpec {
  const envs = ownEntry(config.databases, database);
  if (!envs) {
    const known = Object.keys(config.databases);
    throw new BadRequestError('database', `database: unknown database '${database}' (${known.length ? `known: ${known.join(', ')}` : 'config declares none under databases'})`);
  }
  const spec = ownEntry(envs, environment);
  if (!spec) throw new BadRequestError('environment', `environment: database '${database}' has no environment '${environment}' (it has ${Object.keys(envs).join(', ')})`);
  return spec;
}

function checkInstant(value: string | null | undefined, field: string): string | null {
  if (value === null || value === undefined) return null;
  const ms = parseInstant(value);
  if (ms === null) throw new BadRequestError(field, `${field}: '${value}' is not ${INSTANT_RULE}`);
  return new Date(ms).toISOString();
}

/** The target as the workflow takes it: instants normalised; exactly one of latest, pointInTime, backup. */
function normaliseTarget(target: RestoreTarget): RestoreTarget {
  const keys = Object.keys(target);
  if (keys.length !== 1) throw new BadRequestError('target', 'target: give exactly one of {latest: true}, {pointInTime: <instant>} or {backup: <id>}');
  if ('pointInTime' in target) return { pointInTime: checkInstant(target.pointInTime, 'target.pointInTime')! };
  if ('latest' in target && target.latest !== true) throw new BadRequestError('target.latest', 'target.latest: must be true');
  return target;
}

/** A request checked against config: its database, its target (instants normalised) and its incident time. */
interface ResolvedRequest {
  spec: DatabaseSpec;
  target: RestoreTarget;
  incidentAt: string | null;
}

function resolveRequest(config: BatonConfig, body: RestoreRequestBody): ResolvedRequest {
  return { spec: databaseSpec(config, body.database, body.environment), target: normaliseTarget(body.target), incidentAt: checkInstant(body.incidentAt, 'incidentAt') };
}

/** The plan against the backups that exist now (a short workflow: the worker holds the credentials); unreachable is a 400. */
async function planFor(client: Client, config: BatonConfig, req: ResolvedRequest): Promise<RestorePlan> {
  const result = await client.workflow.execute('restorePlanPreview', {
    taskQueue: config.temporal.taskQueue,
    workflowId: `plan:${req.spec.database}:${req.spec.environment}:${randomUUID()}`,
    args: [req],
    workflowExecutionTimeout: '2m',
  });
  if (!result.ok) throw new BadRequestError('target', `target: ${result.problem}`);
  return result.plan;
}

/** A plan for the request against the backups that exist now; a target no backup reaches is a 400 naming the reachable range. */
export function previewRestore(client: Client, config: BatonConfig, body: RestoreRequestBody): Promise<RestorePlan> {
  return planFor(client, config, resolveRequest(config, body));
}

/** The running restore of a database, or null (visibility: a race of two starts in the same instant is not excluded). */
async function runningRestore(client: Client, database: string, environment: string): Promise<string | null> {
  const query = `BatonKind = 'restore' AND BatonService = '${database}' AND BatonEnvironment = '${environment}' AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query })) return wf.workflowId;
  return null;
}

/**
 * Starts a restore after previewing its plan: a target no backup reaches is a 400 and starts
 * nothing. With `signer` (the API), the run takes only decisions the API signed, by the people
 * config names now (approvers, who may cancel, admins, the requester), judged by their roles now.
 */
export async function startRestore(client: Client, config: BatonConfig, body: RestoreRequestBody & { requestedBy: string }, signer: DecisionSigner | null = null): Promise<{ id: string }> {
  const req = resolveRequest(config, body);
  await planFor(client, config, req);
  const { database, environment } = req.spec;
  const running = await runningRestore(client, database, environment);
  if (running) throw new ConflictError(`${database} in ${environment} is already being restored (${running})`, { runningId: running });
  const id = restoreId(database, environment, Date.now());
  const input: RestoreInput = {
    id,
    mode: 'restore',
    request: { environment, database, target: req.target, reason: body.reason, incidentAt: req.incidentAt, requestedBy: body.requestedBy },
    spec: req.spec,
    notify: config.notifications,
    people: decidersOf(config.people, [...req.spec.approvals.map((r) => r.role), ...config.cancelRoles], body.requestedBy),
    cancelRoles: [...config.cancelRoles],
    decisionKey: signer?.publicKey ?? null,
  };
  try {
    await client.workflow.start('restore', {
      taskQueue: config.temporal.taskQueue,
      workflowId: id,
      args: [input],
      staticSummary: `Restore ${database} in ${environment}`,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: BatonKind, value: 'restore' },
        { key: BatonService, value: database },
        { key: BatonEnvironment, value: environment },
        { key: BatonVersion, value: 'restore' },
        { key: BatonPhase, value: 'planning' },
      ]),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new ConflictError(`${database} in ${environment} is already being restored (${id})`, { runningId: id });
    throw err;
  }
  return { id };
}

const RESTORE_ID = /^(restore|drill):[^:]+:[^:]+[:-]\S+$/;

function checkRestoreId(id: string): void {
  if (!RESTORE_ID.test(id)) throw new NotFoundError(`no restore '${id}' (ids look like restore:<database>:<environment>:<time>)`);
}

export function getRestoreStatus(client: Client, id: string): Promise<RestoreStatus> {
  checkRestoreId(id);
  return queryStatus(client, id, restoreStatusQuery, 'restore');
}

/** How to send a decision: `signer` signs it for the run (the API always does; a run with a decision key refuses unsigned ones). */
export interface RestoreUpdateOptions {
  signer?: DecisionSigner | null;
}

export function decideRestore(client: Client, id: string, decision: ApprovalInput, options: RestoreUpdateOptions = {}): Promise<RestoreStatus> {
  return updateRestore(client, id, restoreApprovalUpdate, decision, 'decision', options);
}

export function cancelRestore(client: Client, id: string, cancel: CancelInput, options: RestoreUpdateOptions = {}): Promise<RestoreStatus> {
  return updateRestore(client, id, restoreCancelUpdate, cancel, 'reason', options);
}

async function updateRestore<A extends object>(client: Client, id: string, update: UpdateDefinition<RestoreStatus, [A]>, arg: A, field: string, { signer }: RestoreUpdateOptions): Promise<RestoreStatus> {
  checkRestoreId(id);
  try {
    const signed = signer ? signer.sign(id, update.name, arg) : arg;
    const status = await client.workflow.getHandle(id).executeUpdate(update, { args: [signed] });
    statusChanged(client, id);
    return status;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw refusal(err, field);
    if (err instanceof WorkflowNotFoundError) {
      const ended = await howEnded(client, id, restoreStatusQuery);
      if (ended) throw new ConflictError(`the restore has ended (${ended})`);
      throw new NotFoundError(`no restore '${id}'`);
    }
    throw err;
  }
}

// ---------------------------------------------------------------- backups

/** `backup:<database>:<environment>:<time>`: the backup's id, and the workflow that takes it. */
function backupId(database: string, environment: string, nowMs: number): string {
  return `backup:${database}:${environment}:${compactStamp(nowMs)}`;
}

/** Starts taking a verified backup; 409 while one of the same database is being taken. */
export async function startBackup(client: Client, config: BatonConfig, body: { environment: string; database: string; kind?: BackupKind; takenBy: string }): Promise<{ id: string }> {
  const spec = databaseSpec(config, body.database, body.environment);
  const kind: BackupKind = body.kind ?? (spec.target.kind === 'rds' ? 'snapshot' : 'base');
  if (spec.target.kind === 'rds' && kind !== 'snapshot') throw new BadRequestError('kind', `kind: RDS takes snapshots, not '${kind}' backups`);
  if (spec.target.kind === 'postgres' && kind === 'snapshot') throw new BadRequestError('kind', `kind: PostgreSQL takes 'base' or 'logical' backups, not snapshots`);
  const id = backupId(body.database, body.environment, Date.now());
  try {
    await client.workflow.start('databaseBackup', {
      taskQueue: config.temporal.taskQueue,
      workflowId: id,
      args: [{ id, spec, kind, takenBy: body.takenBy }],
      staticSummary: `Back up ${body.database} in ${body.environment} (${kind})`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new ConflictError(`a backup of ${body.database} in ${body.environment} was started this second (${id})`, { runningId: id });
    throw err;
  }
  return { id };
}

export interface DatabaseListing extends Inventory {
  runs: RunRecord[];
  environment: string;
  database: string;
  kind: DatabaseSpec['target']['kind'];
  lastDrill: RunRecord | null;
  /** How long ago the last drill ended, or null with none. */
  lastDrillAgeSeconds: number | null;
  /** What is wrong with the drills now (none, too old, too slow for the RTO). */
  drillFlags: string[];
}

/** What exists for a database: its backups, the reachable range, and its restores and drills. */
export async function listDatabase(client: Client, config: BatonConfig, database: string, environment: string): Promise<DatabaseListing> {
  const spec = databaseSpec(config, database, environment);
  const facts = await client.workflow.execute('databaseInventory', {
    taskQueue: config.temporal.taskQueue,
    workflowId: `inventory:${database}:${environment}:${randomUUID()}`,
    args: [spec],
    workflowExecutionTimeout: '2m',
  });
  const lastDrill = [...facts.runs].reverse().find((r) => r.mode === 'drill') ?? null;
  const now = Date.now();
  const lastDrillAgeSeconds = lastDrill ? Math.round((now - Date.parse(lastDrill.at)) / 1000) : null;
  return { environment, database, kind: spec.target.kind, ...facts.inventory, runs: facts.runs, lastDrill, lastDrillAgeSeconds, drillFlags: drillFlags(lastDrill, spec, now) };
}

export type BackupView = { id: string; state: 'running' } | { id: string; state: 'failed'; error: string } | ({ state: 'available' } & BackupInfo);

/** One backup by id: one being taken, one that failed, or one that exists (from its database's inventory). */
export async function getBackup(client: Client, config: BatonConfig, id: string): Promise<BackupView> {
  const m = /^backup:([^:]+):([^:]+):[0-9TZ]+$/.exec(id);
  if (m) {
    const [, database, environment] = m;
    const envs = ownEntry(config.databases, database);
    if (envs && ownEntry(envs, environment)) {
      try {
        const handle = client.workflow.getHandle(id);
        const d = await handle.describe();
        if (d.status.name === 'RUNNING') return { id, state: 'running' };
        if (d.status.name !== 'COMPLETED') {
          const error = await handle.result().then(() => d.status.name, (err: Error) => (err.cause as Error | undefined)?.message ?? err.message);
          return { id, state: 'failed', error };
        }
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      const found = (await listDatabase(client, config, database, environment)).backups.find((b) => b.id === id);
      if (found) return { state: 'available', ...found };
    }
  } else {
    // Backups Baton did not take (RDS automated snapshots): look in every database.
    for (const [database, envs] of Object.entries(config.databases)) {
      for (const environment of Object.keys(envs)) {
        const found = (await listDatabase(client, config, database, environment)).backups.find((b) => b.id === id);
        if (found) return { state: 'available', ...found };
      }
    }
  }
  throw new NotFoundError(`no backup '${id}'`);
}
