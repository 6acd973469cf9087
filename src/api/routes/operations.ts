// Operations endpoints, no token needed: liveness, readiness (can we reach Temporal?) and the
// OpenAPI document. /docs (Swagger UI) is registered by app.ts.
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiError } from '../errors';
import { ErrorReply, HealthReply, ReadyReply } from '../schemas';

export interface OperationsRoutesOptions {
  client: Client;
  /** How long /readyz waits for Temporal before answering 503. */
  readyTimeoutMs?: number;
}

export const operationsRoutes: FastifyPluginAsyncTypebox<OperationsRoutesOptions> = async (app, { client, readyTimeoutMs = 2000 }) => {
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

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
