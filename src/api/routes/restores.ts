// Restores and backups: preview a restore's plan, start one, read it, approve or reject it,
// cancel it; take a backup, list what exists. Starting restores and taking backups need the
// `restore` permission; who may approve is the environment's approval rules' business, who may
// cancel the requester's, a cancel role's (config `cancel.roles`) or an admin's. As for releases,
// the route refuses first (403, nothing sent), then signs what it sends: the run judges again.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ownEntry, type BatonConfig } from '../../config';
import { cancelRestore, decideRestore, getBackup, getRestoreStatus, listDatabase, previewRestore, startBackup, startRestore } from '../../temporal/restores';
import { cancelRefusal } from '../../domain/policy';
import { ForbiddenError } from '../../temporal/deployments';
import type { DecisionSigner } from '../../temporal/signer';
import { caller } from '../auth';
import { checkMayDecide } from '../errors';
import {
  BackupBody,
  BackupParams,
  BackupQuery,
  BackupReply,
  BackupsReply,
  PlanSchema,
  RestoreActionBody,
  RestoreApprovalBody,
  RestoreBody,
  RestoreParams,
  RestoreStatusSchema,
  StartRestoreReply,
} from '../restore-schemas';
import { ErrorReply, withErrors } from '../schemas';
import { runLinksOf } from '../run-links';

export interface RestoreRoutesOptions {
  client: Client;
  config: BatonConfig;
  signer: DecisionSigner;
}

export const restoreRoutes: FastifyPluginAsyncTypebox<RestoreRoutesOptions> = async (app, { client, config, signer }) => {
  const links = runLinksOf('restores', ['approvals', 'actions'] as const, config, client);

  app.post('/restores/plan', {
    config: { permission: 'read' },
    schema: {
      summary: 'Preview a restore\'s plan',
      description: 'Changes nothing. Which backup, which span of log, the target, the predicted RPO and the expected duration. A target no backup reaches is a 400 naming the reachable range.',
      tags: ['restores'],
      body: RestoreBody,
      response: withErrors({ 200: PlanSchema }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await previewRestore(client, config, request.body));
  });

  app.post('/restores', {
    config: { permission: 'restore', does: 'take backups or restore databases' },
    schema: {
      summary: 'Restore a database',
      description:
        'Plans (a target no backup reaches is a 400 and starts nothing), asks for approval where the environment\'s rules want one, quiesces the services, '
        + 'restores into a copy beside the original, verifies it fail-closed, switches, resumes, smoke-tests and watches the services, and switches back by itself on a failure. '
        + '409 with the running one\'s id while the same database is being restored.',
      tags: ['restores'],
      body: RestoreBody,
      response: withErrors({ 201: StartRestoreReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { id } = await startRestore(client, config, { ...request.body, requestedBy: caller(request).name }, signer);
    const status = await getRestoreStatus(client, id);
    const l = links(id);
    return reply.code(201).header('location', l.self).send({ id, status, links: l });
  });

  app.get('/restores/:id', {
    config: { permission: 'read' },
    schema: { summary: 'A restore\'s status', tags: ['restores'], params: RestoreParams, response: withErrors({ 200: RestoreStatusSchema, 404: ErrorReply }) },
  }, async (request, reply) => {
    return reply.code(200).send(await getRestoreStatus(client, request.params.id));
  });

  app.post('/restores/:id/approvals', {
    config: { permission: 'read' },
    schema: {
      summary: 'Approve or reject a restore',
      description:
        'The environment\'s approval rules: a role they name, never the requester approving their own restore, each person once; 403 or 409 otherwise, changing nothing. '
        + 'Who may never decide (no role the rules name) gets 403 whatever the restore\'s state; the run judges the decision again, by the people and roles it fixed when it started.',
      tags: ['restores'],
      params: RestoreParams,
      body: RestoreApprovalBody,
      response: withErrors({ 200: RestoreStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    const status = await getRestoreStatus(client, request.params.id);
    // Who could ever decide on it (the rules' roles), before its state.
    const spec = ownEntry(ownEntry(config.databases, status.database) ?? {}, status.environment);
    checkMayDecide(person, (spec?.approvals ?? []).map((r) => r.role), 'this restore');
    // `roles` only counts for runs started before restores kept their people.
    const decision = { environment: status.environment, decision: request.body.decision, comment: request.body.comment ?? null, by: person.name, roles: [...person.roles] };
    return reply.code(200).send(await decideRestore(client, request.params.id, decision, { signer }));
  });

  app.post('/restores/:id/actions', {
    config: { permission: 'read', does: 'cancel restores' },
    schema: {
      summary: 'Cancel a restore',
      description:
        'Undoes what it changed: drops the copy, switches back if it had switched, resumes the services. 409 once it has ended. '
        + 'Only the requester, a holder of a cancel role (config `cancel.roles`, default release-manager) or an admin may cancel (403).',
      tags: ['restores'],
      params: RestoreParams,
      body: RestoreActionBody,
      response: withErrors({ 200: RestoreStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    const why = cancelRefusal(config.cancelRoles, person, (await getRestoreStatus(client, request.params.id)).requestedBy, 'restore');
    if (why) throw new ForbiddenError(why.message);
    return reply.code(200).send(await cancelRestore(client, request.params.id, { reason: request.body.reason, by: person.name }, { signer }));
  });

  app.post('/backups', {
    config: { permission: 'restore', does: 'take backups or restore databases' },
    schema: {
      summary: 'Take a verified backup',
      description: 'Starts taking a backup with its manifest (the critical tables\' row counts and checksums) and checks it; GET /v1/backups/:id says when it is available.',
      tags: ['backups'],
      body: BackupBody,
      response: withErrors({ 201: BackupReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { id } = await startBackup(client, config, { ...request.body, takenBy: caller(request).name });
    return reply.code(201).header('location', `/v1/backups/${id}`).send({ id, state: 'running' });
  });

  app.get('/backups', {
    config: { permission: 'read' },
    schema: {
      summary: 'A database\'s backups and the reachable range',
      description: 'Every backup, the instants a point-in-time restore can reach, the finished restores and drills, and what is wrong with the drills.',
      tags: ['backups'],
      querystring: BackupQuery,
      response: withErrors({ 200: BackupsReply }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await listDatabase(client, config, request.query.database, request.query.environment));
  });

  app.get('/backups/:id', {
    config: { permission: 'read' },
    schema: { summary: 'One backup', tags: ['backups'], params: BackupParams, response: withErrors({ 200: BackupReply, 404: ErrorReply }) },
  }, async (request, reply) => {
    return reply.code(200).send(await getBackup(client, config, request.params.id));
  });
};
