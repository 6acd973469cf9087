// Deployments: start one, read its status, act on it. The rules (one per lane, valid
// transitions) live in the workflows; these handlers translate HTTP to src/temporal calls.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { BadRequestError, actAs, deployAs, getDeploymentStatus } from '../../temporal/deployments';
import { listFreezes } from '../../temporal/freezes';
import type { DecisionSigner } from '../../temporal/signer';
import { caller } from '../auth';
import {
  ActionBody,
  DeploymentParams,
  DeploymentStatusSchema,
  ErrorReply,
  StartDeploymentBody,
  StartDeploymentReply,
  withErrors,
} from '../schemas';
import { runLinksOf } from '../run-links';

export interface DeploymentRoutesOptions {
  client: Client;
  config: BatonConfig;
  signer: DecisionSigner;
}

export const deploymentRoutes: FastifyPluginAsyncTypebox<DeploymentRoutesOptions> = async (app, { client, config, signer }) => {
  const links = runLinksOf('deployments', ['actions'] as const, config, client);

  app.post('/deployments', {
    config: { permission: 'deploy', does: 'start deployments' },
    schema: {
      summary: 'Start a blue/green deployment',
      description:
        'At most one deployment per service and environment runs at a time: a second start gets 409 with the running one\'s id. '
        + 'The caller needs `deploy` in the environment (403). A gated environment takes releases only (403 naming the release path), '
        + 'unless the caller holds the break-glass role and sends `breakGlass: {reason}`; the run records it. An active freeze refuses (409), '
        + 'a break-glass deployment too unless the freeze allows break-glass.',
      tags: ['deployments'],
      body: StartDeploymentBody,
      response: withErrors({ 201: StartDeploymentReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { service, environment, version, breakGlass } = request.body;
    const freezes = await listFreezes(client, config);
    const { id } = await deployAs(client, config, caller(request), { service, environment, version, breakGlass: breakGlass ?? null }, freezes, signer);
    const status = await getDeploymentStatus(client, id);
    const l = links(id);
    return reply.code(201).header('location', l.self).send({ id, status, links: l });
  });

  app.get('/deployments/:id', {
    config: { permission: 'read' },
    schema: {
      summary: 'A deployment\'s status',
      tags: ['deployments'],
      params: DeploymentParams,
      response: withErrors({ 200: DeploymentStatusSchema, 404: ErrorReply }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await getDeploymentStatus(client, request.params.id));
  });

  app.post('/deployments/:id/actions', {
    config: { permission: 'deploy', does: 'act on deployments' },
    schema: {
      summary: 'Pause, resume, promote, extend or roll back a deployment',
      description:
        'An action that is not valid now is refused with 409 and changes nothing. `extend` needs `seconds`. '
        + 'The caller needs `deploy` in the deployment\'s environment (403); `promote` in a gated environment skips soaks its approvers agreed to, so it needs the break-glass role.',
      tags: ['deployments'],
      params: DeploymentParams,
      body: ActionBody,
      response: withErrors({ 200: DeploymentStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { action, reason, seconds } = request.body;
    if (action === 'extend' && seconds === undefined) throw new BadRequestError('seconds', 'seconds: extend needs seconds (how long to add)');
    if (action !== 'extend' && seconds !== undefined) throw new BadRequestError('seconds', `seconds: only extend takes seconds, not ${action}`);
    const status = await actAs(client, config, caller(request), request.params.id, { action, reason, ...(seconds !== undefined ? { seconds } : {}) }, signer);
    return reply.code(200).send(status);
  });
};
