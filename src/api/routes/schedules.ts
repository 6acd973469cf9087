// Release trains: list them with their next departures, pause one (a freeze: the reason is the
// schedule note in the Temporal UI), unpause it, or trigger an unscheduled departure. Only
// configured trains are visible here; the schedules themselves are kept in step with config
// by the worker (src/temporal/schedules.ts).
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { describeTrain, listTrains, pauseTrain, triggerTrain, unpauseTrain } from '../../temporal/schedules';
import {
  ErrorReply,
  PauseScheduleBody,
  ScheduleParams,
  SchedulesReply,
  TrainScheduleSchema,
  UnpauseScheduleBody,
  withErrors,
} from '../schemas';

export interface ScheduleRoutesOptions {
  client: Client;
  config: BatonConfig;
}

export const scheduleRoutes: FastifyPluginAsyncTypebox<ScheduleRoutesOptions> = async (app, { client, config }) => {
  app.get('/schedules', {
    config: { permission: 'read' },
    schema: {
      summary: 'The release trains and their next five departures',
      description: 'Departures are the Temporal server\'s own, shown in the train\'s time zone and in UTC.',
      tags: ['schedules'],
      response: withErrors({ 200: SchedulesReply }),
    },
  }, async (_request, reply) => {
    return reply.code(200).send({ schedules: await listTrains(client, config) });
  });

  app.post('/schedules/:id/pause', {
    config: { permission: 'admin', does: 'pause release trains' },
    schema: {
      summary: 'Pause a release train',
      description: 'No departure runs until it is unpaused; `reason` becomes the schedule note in the Temporal UI.',
      tags: ['schedules'],
      params: ScheduleParams,
      body: PauseScheduleBody,
      response: withErrors({ 200: TrainScheduleSchema, 404: ErrorReply }),
    },
  }, async (request, reply) => {
    const train = await describeTrain(client, config, request.params.id);
    await pauseTrain(client, train.id, request.body.reason);
    return reply.code(200).send(await describeTrain(client, config, train.id));
  });

  app.post('/schedules/:id/unpause', {
    config: { permission: 'admin', does: 'unpause release trains' },
    // The body is optional: no body reads as `{}`.
    preValidation: async (request) => {
      request.body ??= {};
    },
    schema: {
      summary: 'Unpause a release train',
      tags: ['schedules'],
      params: ScheduleParams,
      body: UnpauseScheduleBody,
      response: withErrors({ 200: TrainScheduleSchema, 404: ErrorReply }),
    },
  }, async (request, reply) => {
    const train = await describeTrain(client, config, request.params.id);
    await unpauseTrain(client, train.id, request.body.reason);
    return reply.code(200).send(await describeTrain(client, config, train.id));
  });

  app.post('/schedules/:id/trigger', {
    config: { permission: 'admin', does: 'trigger release trains' },
    schema: {
      summary: 'Trigger an unscheduled departure now',
      description: 'Starts a departure at once (never skipped for overlap). A paused train is refused with 409.',
      tags: ['schedules'],
      params: ScheduleParams,
      response: withErrors({ 200: TrainScheduleSchema, 404: ErrorReply, 409: ErrorReply }),
    },
  }, async (request, reply) => {
    const train = await describeTrain(client, config, request.params.id);
    await triggerTrain(client, train.id);
    return reply.code(200).send(await describeTrain(client, config, train.id));
  });
};
