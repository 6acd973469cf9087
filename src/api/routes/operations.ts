// Operations endpoints: liveness, readiness (can we reach Temporal, and does a worker poll the
// main task queue?) and the OpenAPI document need no token; /metrics (Prometheus) needs one with `read`, like the rest of the API.
// /docs (Swagger UI) is registered by app.ts.
import { Type } from '@sinclair/typebox';
import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BatonConfig } from '../../config';
import { formatDuration } from '../../domain/durations';
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
  /** How recently a worker must have polled the main task queue for /readyz to be 200; null: not checked. */
  readyWorkersWithinMs?: number | null;
}

/** temporal.api.enums.v1.TaskQueueType (@temporalio/proto is no dependency of ours). */
const TASK_QUEUE_TYPES = { workflow: 1, activity: 2 } as const;

/**
 * Like Promise.all, but answers only once every call has settled: a failed call never leaves its
 * siblings retrying in the background (the Temporal client retries until the deadline, and a
 * retry after the connection closed throws where nothing can catch it).
 */
async function allSettledOrThrow<T extends readonly unknown[]>(calls: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

export const operationsRoutes: FastifyPluginAsyncTypebox<OperationsRoutesOptions> = async (app, opts) => {
  const { client, config, metrics, readyTimeoutMs = 2000, readyWorkersWithinMs = null } = opts;
  const queue = config.temporal.taskQueue;

  /** The kinds of task ('workflow', 'activity') no worker has polled `queue` for within the limit. */
  async function unpolled(withinMs: number): Promise<string[]> {
    const since = Date.now() - withinMs;
    const kinds = Object.entries(TASK_QUEUE_TYPES);
    const answers = await allSettledOrThrow(kinds.map(([, taskQueueType]) =>
      client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: queue }, taskQueueType })));
    return kinds
      .filter((_, i) => !(answers[i].pollers ?? []).some((p) => p.lastAccessTime && tsToMs(p.lastAccessTime) >= since))
      .map(([kind]) => kind);
  }

  app.get('/healthz', {
    schema: { summary: 'The process is up', tags: ['operations'], security: [], response: { 200: HealthReply } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      summary: 'Temporal is reachable and a worker polls the main task queue',
      description: 'One round trip to Temporal (three calls side by side), bounded by a short deadline. '
        + 'A worker counts when it polled the main task queue for both workflow and activity tasks within the readiness window (default 2 minutes).',
      tags: ['operations'],
      security: [],
      response: { 200: ReadyReply, 503: ErrorReply },
    },
  }, async (request, reply) => {
    const within = readyWorkersWithinMs;
    let missing: string[];
    try {
      [, missing] = await client.connection.withDeadline(Date.now() + readyTimeoutMs, () => allSettledOrThrow([
        client.workflowService.getSystemInfo({}),
        within === null ? Promise.resolve([]) : unpolled(within),
      ]));
    } catch (err) {
      request.log.warn({ err }, 'readiness: Temporal is not reachable');
      throw new ApiError(503, 'unavailable', 'Temporal is not reachable');
    }
    if (missing.length > 0 && within !== null) {
      const message = `no worker has polled task queue '${queue}' for ${missing.join(' or ')} tasks in the last ${formatDuration(Math.round(within / 1000))}`;
      request.log.warn({ taskQueue: queue, missing }, `readiness: ${message}`);
      throw new ApiError(503, 'unavailable', message);
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
