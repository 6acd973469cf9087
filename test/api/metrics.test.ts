// GET /metrics: Prometheus's text format, behind a token with `read`; the API's requests by
// route pattern, the process, and the runs Temporal reports running, read at each scrape.
// Real Temporal dev server; the config is the README example (tokens foo, bar, baz).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Client, Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { buildApp } from '../../src/api/app';
import { loadConfigFile, type BatonConfig } from '../../src/config';
import { BatonKind } from '../../workflows/messages';
import { freePort, startTemporalWithClient, type TemporalWithClient } from '../harness/servers';
import { until } from '../harness/wait';

const ADMIN = 'foo';
const VIEWER = 'baz';

describe('GET /metrics', () => {
  let temporal: TemporalWithClient;
  let client: Client;
  let config: BatonConfig;
  let app: FastifyInstance;

  beforeAll(async () => {
    temporal = await startTemporalWithClient();
    client = temporal.client;
    config = loadConfigFile(resolve(__dirname, '../../config/example.yaml'));
    app = await buildApp({ client, config });
  });

  afterAll(async () => {
    await app?.close();
    await temporal?.stop();
  });

  const scrape = async (token = VIEWER) => app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });

  it('needs a token, like the rest of the API', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it("counts requests by route pattern and status, and reports the process", async () => {
    await app.inject({ method: 'GET', url: '/healthz' });
    await app.inject({ method: 'GET', url: '/v1/deployments/deploy:web:prod:9.9.9', headers: { authorization: `Bearer ${VIEWER}` } });
    const res = await scrape();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain('baton_http_requests_total{method="GET",route="/healthz",status_code="200"} 1');
    // The route pattern, not the id: the label set stays bounded.
    expect(res.body).toContain('baton_http_requests_total{method="GET",route="/v1/deployments/:id",status_code="404"} 1');
    expect(res.body).toMatch(/baton_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/healthz"\}/);
    expect(res.body).toMatch(/^baton_api_process_cpu_user_seconds_total \d/m);
    expect(res.body).toContain('baton_temporal_up 1');
  });

  it('reports the runs Temporal has running, by kind', async () => {
    // A release nobody works on (no worker polls this queue): running, with its kind set at start.
    const handle = await client.workflow.start('release', {
      workflowId: 'release:metrics:1.0.0',
      taskQueue: 'nobody-polls-this',
      args: [],
      typedSearchAttributes: new TypedSearchAttributes([{ key: BatonKind, value: 'release' }]),
    });
    try {
      const res = await until('the running release to be counted', async () => (await scrape()).body, (b) => b.includes('baton_runs_running{kind="release"} 1'));
      expect(res).toContain('baton_runs_running{kind="deployment"} 0');
    } finally {
      await handle.terminate('test over');
    }
    await until('the release to be counted no more', async () => (await scrape(ADMIN)).body, (b) => b.includes('baton_runs_running{kind="release"} 0'));
  });

  it('still answers when Temporal cannot, saying so instead of showing stale counts', async () => {
    // No gRPC retry interceptor: its retries would outlive the test's connection.
    const nowhere = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] }) });
    const offline = await buildApp({ client: nowhere, config, readyTimeoutMs: 500 });
    try {
      const res = await offline.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${VIEWER}` } });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('baton_temporal_up 0');
      expect(res.body).not.toContain('baton_runs_running{');
    } finally {
      await offline.close();
      await nowhere.connection.close();
    }
  });
});
