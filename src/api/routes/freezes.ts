// Freezes: declare one, list them, read one, lift one. Declaring and lifting need the `freeze`
// permission (release managers, admins); config's freezes are listed too, and stay: only a
// change of the config file lifts them. A declared or lifted freeze reaches running releases at
// once, through the freeze registry (src/temporal/freezes.ts, workflows/freezes.ts).
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { declareFreeze, getFreeze, liftFreeze, listFreezes } from '../../temporal/freezes';
import { caller } from '../auth';
import { DeclareFreezeBody, FreezeParams, FreezeSchema, FreezesReply, ListedFreezeSchema } from '../freeze-schemas';
import { ErrorReply, withErrors } from '../schemas';

export interface FreezeRoutesOptions {
  client: Client;
  config: BatonConfig;
}

export const freezeRoutes: FastifyPluginAsyncTypebox<FreezeRoutesOptions> = async (app, { client, config }) => {
  app.post('/freezes', {
    config: { permission: 'freeze', does: 'declare or lift freezes' },
    schema: {
      summary: 'Declare a freeze',
      description:
        'No gate into the named environments opens in [from, to): releases waiting there hold, and running releases see it at once. '
        + 'Answers the freeze with its id (`freeze-<n>`). 400 names the field: an instant without a zone, `to` not after `from` or already passed, '
        + 'an environment config does not declare, a blank reason.',
      tags: ['freezes'],
      body: DeclareFreezeBody,
      response: withErrors({ 201: FreezeSchema }),
    },
  }, async (request, reply) => {
    const { from, to, environments, reason, allowBreakGlass } = request.body;
    const freeze = await declareFreeze(client, config.temporal.taskQueue, config, { from, to, environments, reason, allowBreakGlass, by: caller(request).name });
    return reply.code(201).header('location', `/v1/freezes/${encodeURIComponent(freeze.id)}`).send(freeze);
  });

  app.get('/freezes', {
    config: { permission: 'read' },
    schema: {
      summary: 'Every freeze: config\'s and those declared through the API',
      description: 'Config\'s freezes first (`source: config`), then those declared through the API that have not ended; `active` says whether each holds now.',
      tags: ['freezes'],
      response: withErrors({ 200: FreezesReply }),
    },
  }, async (_request, reply) => {
    return reply.code(200).send({ freezes: await listFreezes(client, config) });
  });

  app.get('/freezes/:id', {
    config: { permission: 'read' },
    schema: {
      summary: 'One freeze',
      tags: ['freezes'],
      params: FreezeParams,
      response: withErrors({ 200: ListedFreezeSchema, 404: ErrorReply }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await getFreeze(client, config, request.params.id));
  });

  app.delete('/freezes/:id', {
    config: { permission: 'freeze', does: 'declare or lift freezes' },
    schema: {
      summary: 'Lift a freeze declared through the API',
      description: 'Running releases see it at once. Answers the lifted freeze. 404 for an unknown id or one that has ended; 409 for a freeze in the config file (change the file to lift it).',
      tags: ['freezes'],
      params: FreezeParams,
      response: withErrors({ 200: FreezeSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    return reply.code(200).send(await liftFreeze(client, config, request.params.id, caller(request).name));
  });
};
