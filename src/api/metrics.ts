// Prometheus metrics of the API process: its requests (by route pattern, never by id, so the
// label set stays small), Node's own process metrics, and, read from Temporal's visibility at
// each scrape, how many runs of each kind are running. One registry per app, so several apps
// in one process (tests) never share counters.
import type { FastifyInstance } from 'fastify';
import type { Client } from '@temporalio/client';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BatonKind } from '../../workflows/messages';

/** The kinds of run counted by `baton_runs_running`. */
export const RUN_KINDS = ['deployment', 'release', 'lane'] as const;

export interface ApiMetrics {
  registry: Registry;
  /** Reads the run counts from Temporal, then renders everything in the Prometheus text format. */
  scrape(): Promise<string>;
}

export function createApiMetrics(app: FastifyInstance, client: Client, opts: { countTimeoutMs: number }): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'baton_api_' });
  const requests = new Counter({
    name: 'baton_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'baton_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const running = new Gauge({
    name: 'baton_runs_running',
    help: 'Runs Temporal reports as running, by kind (read from visibility at each scrape).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const temporalUp = new Gauge({
    name: 'baton_temporal_up',
    help: '1 when the last scrape could read run counts from Temporal, else 0.',
    registers: [registry],
  });

  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label: an id in a label would grow the series without bound.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  async function countRuns(): Promise<void> {
    try {
      const deadline = Date.now() + opts.countTimeoutMs;
      const counts = await client.connection.withDeadline(deadline, () =>
        Promise.all(RUN_KINDS.map((kind) => client.workflow.count(`${BatonKind.name} = '${kind}' AND ExecutionStatus = 'Running'`))),
      );
      RUN_KINDS.forEach((kind, i) => running.set({ kind }, counts[i].count));
      temporalUp.set(1);
    } catch (err) {
      app.log.warn({ err }, 'metrics: cannot count runs in Temporal');
      running.reset(); // no stale numbers: the series disappear while Temporal cannot answer
      temporalUp.set(0);
    }
  }

  return {
    registry,
    async scrape() {
      await countRuns();
      return registry.metrics();
    },
  };
}
