// Operations endpoints: liveness, readiness (can we reach Temporal?) and the OpenAPI document
// need no token; /metrics (Prometheus) needs one with `read`, like the rest of the API.
// /docs (Swagger UI) is registered by app.ts.
import { Type } from '@sinclair/typebox';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { authorize } from '../auth';
import { ApiError } from '../errors';
import type { ApiMetrics } from '../metrics';
import { ErrorReply, HealthReply, ReadyReply } from '../schemas';

export interface OperationsRoutesOptions {
  client: Client;
  config: BatonConfig;
  metrics: ApiMetrics;
  /** How long /readyz waits for Temporal before answering 503. */
  readyTimeoutMs?: number;
}

export const operationsRoutes: FastifyPluginAsyncTypebox<OperationsRoutesOptions> = async (app, { client, config, metrics, readyTimeoutMs = 2000 }) => {
  app.get('/healthz', {
    schema: { summary: 'The process is up', tags: ['operations'], security: [], response: { 200: HealthReply } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: { summary: 'Temporal is reachable', tags: ['operations'], security: [], response: { 200: ReadyReply, 503: ErrorReply } },
  }, async (request, reply) => {
    try {
      await client.connection.withDeadline(Date.now() + readyTimeoutMs, () => client.workflowService.getSystemInfo({}));
    } catch (err) {
      request.log.warn({ err }, 'readiness: Temporal is not reachable');
      throw new ApiError(503, 'unavailable', 'Temporal is not reachable');
    }
    return reply.code(200).send({ status: 'ready' });
  });

  app.get('/metrics', {
    config: { permission: 'read', does: 'read metrics' },
    onRequest: authorize(config),
    schema: {
      summary: 'Prometheus metrics: requests, the process, running runs by kind',
      description: 'The Prometheus text format. A scraper sends a bearer token of a person with `read`.',
      tags: ['operations'],
      response: { 200: Type.String({ description: 'Prometheus text exposition format' }), 401: ErrorReply, 403: ErrorReply },
    },
  }, async (_request, reply) => {
    const text = await metrics.scrape();
    return reply.code(200).type(metrics.registry.contentType).send(text);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
