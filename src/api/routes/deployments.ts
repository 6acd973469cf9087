// Deployments: start one, read its status, act on it. The rules (one per lane, valid
// transitions) live in the workflows; these handlers translate HTTP to src/temporal calls.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import {
  BadRequestError,
  actOnDeployment,
  buildDeploymentSpec,
  getDeploymentStatus,
  startDeployment,
} from '../../temporal/deployments';
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
}

export const deploymentRoutes: FastifyPluginAsyncTypebox<DeploymentRoutesOptions> = async (app, { client, config }) => {
  const links = runLinksOf('deployments', ['actions'] as const, config, client);

  app.post('/deployments', {
    config: { permission: 'deploy', does: 'start deployments' },
    schema: {
      summary: 'Start a blue/green deployment',
      description: 'At most one deployment per service and environment runs at a time: a second start gets 409 with the running one\'s id.',
      tags: ['deployments'],
      body: StartDeploymentBody,
      response: withErrors({ 201: StartDeploymentReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const spec = buildDeploymentSpec(config, { ...request.body, requestedBy: caller(request).name });
    const { id } = await startDeployment(client, config.temporal.taskQueue, spec);
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
      description: 'An action that is not valid now is refused with 409 and changes nothing. `extend` needs `seconds`.',
      tags: ['deployments'],
      params: DeploymentParams,
      body: ActionBody,
      response: withErrors({ 200: DeploymentStatusSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const { action, reason, seconds } = request.body;
    if (action === 'extend' && seconds === undefined) throw new BadRequestError('seconds', 'seconds: extend needs seconds (how long to add)');
    if (action !== 'extend' && seconds !== undefined) throw new BadRequestError('seconds', `seconds: only extend takes seconds, not ${action}`);
    const status = await actOnDeployment(client, request.params.id, {
      action,
      reason,
      actor: caller(request).name,
      ...(seconds !== undefined ? { seconds } : {}),
    });
    return reply.code(200).send(status);
  });
};
