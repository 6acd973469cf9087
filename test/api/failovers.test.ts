// The failover API's front door against a real Temporal dev server with no worker: who may start
// which mode, how a bad request is refused (naming the field) without starting anything, the
// plan preview, and unknown ids. The runs themselves are tested in test/workflows/failover.test.ts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { hashToken, resolveConfig } from '../../src/config';
import { authed, errorOf, type ApiCaller } from '../harness/api';
import { startTemporalWithClient, type TemporalWithClient } from '../harness/servers';

const PEOPLE = {
  rosa: ['release-manager', 'on-call'],
  remi: ['release-manager'],
  val: ['viewer'],
  dan: ['deployer'],
} as const;

function configDoc(): Record<string, unknown> {
  const doc = parse(readFileSync(resolve(__dirname, '../../config/example.yaml'), 'utf8'));
  doc.people = Object.entries(PEOPLE).map(([name, roles]) => ({ name, roles, tokenSha256: hashToken(`${name}-token`) }));
  delete doc.trains; // the example's trains name people this test does not have
  for (const env of Object.values(doc.environments) as Array<{ gate?: unknown }>) if (env.gate) env.gate = { approvals: [{ role: 'release-manager', count: 1 }] };
  delete doc.hotfix;
  delete doc.services.web.gates;
  return doc;
}

const planned = { service: 'api', environment: 'prod', fromRegion: 'us-east-1', toRegion: 'us-west-2', mode: 'planned', reason: 'region maintenance' };

describe('API: failovers', () => {
  let temporal: TemporalWithClient;
  let app: FastifyInstance;
  let as: Record<keyof typeof PEOPLE, ApiCaller>;

  beforeAll(async () => {
    temporal = await startTemporalWithClient();
    app = await buildApp({ client: temporal.client, config: resolveConfig(configDoc()) });
    as = { rosa: authed(app, 'rosa-token'), remi: authed(app, 'remi-token'), val: authed(app, 'val-token'), dan: authed(app, 'dan-token') };
  });

  afterAll(async () => {
    await app?.close();
    await temporal?.stop();
  });

  async function noRunStarted(): Promise<void> {
    const runs = [];
    for await (const wf of temporal.client.workflow.list({ query: `WorkflowType = 'failover'` })) runs.push(wf.workflowId);
    expect(runs).toEqual([]);
  }

  it('needs the failover permission to start one; a viewer reads', async () => {
    for (const who of [as.val, as.dan]) {
      const res = await who.post('/v1/failovers', planned);
      expect(res.status).toBe(403);
      expect(errorOf(res).message).toMatch(/may not request failovers, failbacks or drills/);
    }
    expect((await as.val.get('/v1/failovers/failover:api:prod:planned-20261129T100000Z')).status).toBe(404);
    await noRunStarted();
  });

  it('lets only the emergency role start an emergency failover', async () => {
    const res = await as.remi.post('/v1/failovers', { ...planned, mode: 'emergency' });
    expect(res.status).toBe(403);
    expect(errorOf(res).message).toBe('remi may not start an emergency failover: it needs role on-call (a planned failover waits for approval instead)');
    await noRunStarted();
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['an unknown service', { service: 'nope' }, 'service', /unknown service 'nope' \(known: web, api\)/],
    ['an environment without DR', { environment: 'staging' }, 'environment', /service 'api' has no DR config for 'staging' \(it has DR for prod\)/],
    ['the wrong region to leave', { fromRegion: 'us-west-2' }, 'fromRegion', /fromRegion must be us-east-1, not us-west-2/],
    ['a failback the wrong way round', { mode: 'failback' }, 'fromRegion', /a failback comes home from the DR region, so fromRegion must be us-west-2/],
    ['the wrong region to go to', { toRegion: 'eu-west-1' }, 'toRegion', /toRegion must be us-west-2, not eu-west-1/],
    ['a detection time that is no instant', { detectedAt: 'yesterday' }, 'detectedAt', /detectedAt: 'yesterday' is not/],
  ])('refuses %s with a 400 naming the field, starting nothing', async (_what, change, field, message) => {
    const res = await as.rosa.post('/v1/failovers', { ...planned, ...change });
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: 'bad_request', field, message: expect.stringMatching(message) });
    const preview = await as.rosa.post('/v1/failovers/plan', { ...planned, ...change });
    expect(preview.status).toBe(400);
    await noRunStarted();
  });

  it('refuses what the schema rules out: an unknown mode, a blank reason, an unknown field', async () => {
    for (const body of [{ ...planned, mode: 'yolo' }, { ...planned, reason: '  ' }, { ...planned, force: true }, { ...planned, toRegion: 'west' }]) {
      const res = await as.rosa.post('/v1/failovers', body);
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('bad_request');
    }
    await noRunStarted();
  });

  it('previews the plan without starting anything: fence before promote, DNS last, who approves', async () => {
    const res = await as.val.post<{ steps: Array<{ name: string; description: string }>; approvals: unknown[]; readiness: unknown; runningId: string | null }>('/v1/failovers/plan', planned);
    expect(res.status).toBe(200);
    expect(res.body.steps.map((s) => s.name)).toEqual(['approval', 'preflight', 'fence', 'catch-up', 'promote', 'scale', 'smoke', 'dns', 'monitor']);
    expect(res.body.steps.find((s) => s.name === 'fence')?.description).toMatch(/make api-prod read-only/);
    expect(res.body.approvals).toEqual([{ role: 'release-manager', count: 1 }]);
    expect(res.body.readiness).toBeNull();
    expect(res.body.runningId).toBeNull();
    await noRunStarted();
  });

  it('answers 404 for ids that are not failovers, and for unknown ones', async () => {
    for (const id of ['nope', 'deploy:web:prod:1.0.0', 'failover:api:prod:planned-20261129T100000Z']) {
      expect((await as.rosa.get(`/v1/failovers/${encodeURIComponent(id)}`)).status).toBe(404);
      expect((await as.rosa.post(`/v1/failovers/${encodeURIComponent(id)}/approvals`, { decision: 'approve' })).status).toBe(404);
    }
  });
});
