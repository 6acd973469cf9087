// Releases: start one, read its status, post checks, approve or reject a gate, cancel. Who may
// approve is the gate's business (the workflow's validator), not a route permission: any caller
// who may read a release may submit a decision, as themselves, with their roles from config.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { buildReleaseInput, cancelRelease, decide, getReleaseStatus, postCheck, startRelease } from '../../temporal/releases';
import { caller } from '../auth';
import {
  ApprovalBody,
  CheckBody,
  ReleaseActionBody,
  ReleaseParams,
  ReleaseStatusSchema,
  StartReleaseBody,
  StartReleaseReply,
} from '../release-schemas';
import { ErrorReply, withErrors } from '../schemas';
import { runLinksOf } from '../run-links';

export interface ReleaseRoutesOptions {
  client: Client;
  config: BatonConfig;
}

export const releaseRoutes: FastifyPluginAsyncTypebox<ReleaseRoutesOptions> = async (app, { client, config }) => {
  const links = runLinksOf('releases', ['checks', 'approvals', 'actions'] as const, config, client);

  app.post('/releases', {
    config: { permission: 'release', does: 'start releases' },
    schema: {
      summary: 'Start promoting a version through the environments',
      description:
        'Promotes one version of one service through the configured environments in order (e.g. dev → staging → prod), '
        + 'each behind its gate. A second start of a running release gets 409 with its id; an ended one may be started again.',
      tags: ['releases'],
      body: StartReleaseBody,
      response: withErrors({ 201: StartReleaseReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { service, version, hotfix } = request.body;
    const input = buildReleaseInput(config, { service, version, hotfix, requestedBy: caller(request).name });
    const { id } = await startRelease(client, config.temporal.taskQueue, input);
    const status = await getReleaseStatus(client, id);
    const l = links(id);
    return reply.code(201).header('location', l.self).send({ id, status, links: l });
  });

  app.get('/releases/:id', {
    config: { permission: 'read' },
    schema: {
      summary: 'A release\'s status',
      description: 'Every environment\'s gate (checks with links, approvals with who, when and comment, what is pending in plain words, the next train) and deployment.',
      tags: ['releases'],
      params: ReleaseParams,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await getReleaseStatus(client, request.params.id));
  });

  app.post('/releases/:id/checks', {
    config: { permission: 'release', does: 'post release checks' },
    schema: {
      summary: 'Record a pre-promotion check',
      description: 'A named attestation (CI, security scan, release notes). The newest record of each name counts: a failed check blocks its gates until a newer passing one arrives.',
      tags: ['releases'],
      params: ReleaseParams,
      body: CheckBody,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { name, status, url } = request.body;
    const updated = await postCheck(client, request.params.id, { name, status, url: url ?? null, by: caller(request).name });
    return reply.code(200).send(updated);
  });

  app.post('/releases/:id/approvals', {
    config: { permission: 'read', does: 'decide on releases' },
    schema: {
      summary: 'Approve or reject a gate, as the caller',
      description:
        'The gate\'s rules decide: 403 for a caller without a role the gate needs or the release\'s requester approving their own release; '
        + '409 for a second decision by the same person, a gate that is not open, or one that has expired. A refused decision changes nothing. '
        + 'A rejection ends the release.',
      tags: ['releases'],
      params: ReleaseParams,
      body: ApprovalBody,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const person = caller(request);
    const { environment, decision, comment } = request.body;
    const updated = await decide(client, request.params.id, {
      environment,
      decision,
      comment: comment ?? null,
      by: person.name,
      roles: [...person.roles],
    });
    return reply.code(200).send(updated);
  });

  app.post('/releases/:id/actions', {
    config: { permission: 'release', does: 'cancel releases' },
    schema: {
      summary: 'Cancel a release',
      description: 'A deployment in flight rolls back. 409 once the release has ended.',
      tags: ['releases'],
      params: ReleaseParams,
      body: ReleaseActionBody,
      response: withErrors({ 200: ReleaseStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { reason } = request.body;
    return reply.code(200).send(await cancelRelease(client, request.params.id, { reason, by: caller(request).name }));
  });
};
