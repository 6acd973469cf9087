// The API's front door against a real Temporal dev server (no worker: nothing here may start a
// workflow): who may call what, how bad input is refused, unknown ids, operations endpoints.
import { FRONT_DOOR_TOKENS, frontDoorConfigDoc } from '../harness/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { resolveConfig, type BatonConfig } from '../../src/config';
import { authed, anonymous, errorOf, type ApiCaller } from '../harness/api';
import { freePort, startTemporalWithClient, type TemporalWithClient } from '../harness/servers';

const TOKENS = FRONT_DOOR_TOKENS;

function configDoc(sandbox?: { controlUrl: string; peopleFile: string }): Record<string, unknown> {
  return frontDoorConfigDoc(sandbox ? { sandbox } : {});
}

const deployment = { service: 'web', environment: 'prod', version: '1.4.2' };
const unknownId = 'deploy:web:prod:9.9.9';

describe('API: authentication, authorisation and validation', () => {
  let temporal: TemporalWithClient;
  let client: Client;
  let config: BatonConfig;
  let app: FastifyInstance;
  let as: Record<keyof typeof TOKENS, ApiCaller>;
  let nobody: ApiCaller;

  beforeAll(async () => {
    temporal = await startTemporalWithClient();
    client = temporal.client;
    config = resolveConfig(configDoc());
    app = await buildApp({ client, config });
    as = {
      admin: authed(app, TOKENS.admin),
      deployer: authed(app, TOKENS.deployer),
      viewer: authed(app, TOKENS.viewer),
      approver: authed(app, TOKENS.approver),
    };
    nobody = anonymous(app);
  });

  afterAll(async () => {
    await app?.close();
    await temporal?.stop();
  });

  describe('who may call', () => {
    it('refuses a request without a token with 401 and a Bearer challenge', async () => {
      for (const res of [await nobody.get(`/v1/deployments/${unknownId}`), await nobody.post('/v1/deployments', deployment)]) {
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(errorOf(res)).toEqual({ code: 'unauthorized', message: expect.stringMatching(/Bearer/) });
      }
    });

    it('refuses an unknown token, or credentials that are not a bearer token, with 401', async () => {
      const wrong = await authed(app, 'not-a-known-token').post('/v1/deployments', deployment);
      expect(wrong.status).toBe(401);
      expect(errorOf(wrong).message).toBe('unknown token');
      const basic = await nobody.inject({ method: 'GET', url: `/v1/deployments/${unknownId}`, headers: { authorization: `Basic ${TOKENS.admin}` } });
      expect(basic.status).toBe(401);
    });

    it('checks credentials before the body: a stranger with bad input still gets 401', async () => {
      const res = await nobody.inject({ method: 'POST', url: '/v1/deployments', headers: { 'content-type': 'application/json' }, payload: '{oops' });
      expect(res.status).toBe(401);
    });

    it('lets a viewer read but not deploy or act (403)', async () => {
      expect((await as.viewer.get(`/v1/deployments/${unknownId}`)).status).toBe(404);
      const start = await as.viewer.post('/v1/deployments', deployment);
      expect(start.status).toBe(403);
      expect(errorOf(start)).toEqual({ code: 'forbidden', message: expect.stringMatching(/val \(viewer\) may not start deployments/) });
      const act = await as.viewer.post(`/v1/deployments/${unknownId}/actions`, { action: 'pause', reason: 'curious' });
      expect(act.status).toBe(403);
    });

    it('answers DR readiness to a reader, with nothing to check when no service has `dr`', async () => {
      expect((await nobody.get('/v1/failovers/readiness')).status).toBe(401);
      const res = await as.viewer.get('/v1/failovers/readiness');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true, checkedAt: null, everySeconds: 900, failing: [], services: [] });
    });

    it('lets an approver read but not deploy', async () => {
      expect((await as.approver.get(`/v1/deployments/${unknownId}`)).status).toBe(404);
      expect((await as.approver.post('/v1/deployments', deployment)).status).toBe(403);
    });

    it('lets deployers and admins past authorisation (to validation here)', async () => {
      for (const who of [as.deployer, as.admin]) {
        const res = await who.post('/v1/deployments', { ...deployment, service: 'nope' });
        expect(res.status).toBe(400);
      }
    });
  });

  describe('bad input is a 400 naming the field', () => {
    const cases: Array<[string, unknown, RegExp, string]> = [
      ['an unknown service', { ...deployment, service: 'nope' }, /^service: unknown service 'nope' \(known: web\)/, 'service'],
      ['an unknown environment', { ...deployment, environment: 'qa' }, /^environment: service 'web' has no environment 'qa'/, 'environment'],
      ['a version with a colon', { ...deployment, version: '1.0:bad' }, /^version: must match pattern/, 'version'],
      ['an empty version', { ...deployment, version: '' }, /^version: must match pattern/, 'version'],
      ['a version that is not a string', { ...deployment, version: 1.5 }, /^version: must be string/, 'version'],
      ['a missing property', { environment: 'prod', version: '1.0.0' }, /^body: must have required property 'service'$/, 'service'],
      ['an extra property', { ...deployment, colour: 'green' }, /^body: unknown property 'colour'$/, 'colour'],
      ['a body that is not an object', ['web'], /^body: must be object$/, 'body'],
    ];
    it.each(cases)('refuses %s', async (_what, body, message, field) => {
      const res = await as.deployer.post('/v1/deployments', body);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: 'bad_request', message: expect.stringMatching(message), field });
    });

    it('refuses malformed JSON, an empty JSON body and a body that is not JSON', async () => {
      const json = { 'content-type': 'application/json' };
      const malformed = await as.deployer.inject({ method: 'POST', url: '/v1/deployments', headers: json, payload: '{"service": "web",' });
      expect(malformed.status).toBe(400);
      expect(errorOf(malformed)).toEqual({ code: 'bad_request', message: 'body: is not valid JSON' });
      const empty = await as.deployer.inject({ method: 'POST', url: '/v1/deployments', headers: json, payload: '' });
      expect(empty.status).toBe(400);
      expect(errorOf(empty).message).toMatch(/^body: /);
      const text = await as.deployer.inject({ method: 'POST', url: '/v1/deployments', headers: { 'content-type': 'text/plain' }, payload: 'deploy web please' });
      expect(text.status).toBe(415);
      expect(errorOf(text)).toEqual({ code: 'unsupported_media_type', message: expect.stringMatching(/^body: must be JSON/) });
    });

    const actions: Array<[string, unknown, RegExp, string]> = [
      ['an unknown action', { action: 'yolo', reason: 'r' }, /^action: must be one of pause, resume, promote, extend, rollback$/, 'action'],
      ['extend without seconds', { action: 'extend', reason: 'need more time' }, /^seconds: extend needs seconds/, 'seconds'],
      ['extend by zero seconds', { action: 'extend', reason: 'r', seconds: 0 }, /^seconds: must be >= 1$/, 'seconds'],
      ['extend by a fraction', { action: 'extend', reason: 'r', seconds: 1.5 }, /^seconds: must be integer$/, 'seconds'],
      ['seconds on another action', { action: 'pause', reason: 'r', seconds: 60 }, /^seconds: only extend takes seconds, not pause$/, 'seconds'],
      ['an action without a reason', { action: 'pause' }, /^body: must have required property 'reason'$/, 'reason'],
      ['an empty reason', { action: 'pause', reason: '' }, /^reason: must NOT have fewer than 1 characters$/, 'reason'],
      ['an extra property on an action', { action: 'pause', reason: 'r', force: true }, /^body: unknown property 'force'$/, 'force'],
    ];
    it.each(actions)('refuses %s', async (_what, body, message, field) => {
      const res = await as.deployer.post(`/v1/deployments/${unknownId}/actions`, body);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: 'bad_request', message: expect.stringMatching(message), field });
    });
  });

  describe('unknown things are 404', () => {
    it.each([unknownId, 'nonsense', 'deploy:web:prod', 'lane:web:prod'])('GET and actions on %s', async (id) => {
      const get = await as.viewer.get(`/v1/deployments/${encodeURIComponent(id)}`);
      expect(get.status).toBe(404);
      expect(errorOf(get)).toEqual({ code: 'not_found', message: expect.stringContaining(`no deployment '${id}'`) });
      const act = await as.deployer.post(`/v1/deployments/${encodeURIComponent(id)}/actions`, { action: 'pause', reason: 'r' });
      expect(act.status).toBe(404);
      expect(errorOf(act).code).toBe('not_found');
    });

    it('answers an unknown route with the error shape', async () => {
      const res = await as.admin.get('/v1/nothing-here');
      expect(res.status).toBe(404);
      expect(errorOf(res)).toEqual({ code: 'not_found', message: 'no route GET /v1/nothing-here' });
    });

    it('has no sandbox routes outside the sandbox', async () => {
      expect((await as.admin.get('/v1/sandbox/people')).status).toBe(404);
      expect((await as.admin.post('/v1/sandbox/faults', { service: 'web', environment: 'prod', colour: 'blue' })).status).toBe(404);
    });
  });

  describe('operations', () => {
    it('answers /healthz and /readyz without a token', async () => {
      const health = await nobody.get('/healthz');
      expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
      // Ready takes Temporal answering and a worker polling the main task queue; this stack runs none.
      const ready = await nobody.get('/readyz');
      expect(ready.status).toBe(503);
      expect(errorOf(ready).message).toMatch(/no worker .*'baton'|'baton'.*worker/i);
    });

    it('answers /readyz with 503 when Temporal is unreachable', async () => {
      const lazy = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
      const cut = await buildApp({ client: new Client({ connection: lazy }), config, readyTimeoutMs: 500 });
      try {
        const res = await anonymous(cut).get('/readyz');
        expect(res.status).toBe(503);
        expect(errorOf(res)).toEqual({ code: 'unavailable', message: 'Temporal is not reachable' });
        expect((await anonymous(cut).get('/healthz')).status).toBe(200);
      } finally {
        await cut.close();
        await lazy.close();
      }
    });

    it('serves the OpenAPI document with every path, its schemas and bearer security', async () => {
      const res = await nobody.get<OpenApi>('/openapi.json');
      expect(res.status).toBe(200);
      const doc = res.body;
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
        '/healthz', '/readyz', '/v1/deployments', '/v1/deployments/{id}', '/v1/deployments/{id}/actions',
        '/v1/schedules', '/v1/schedules/{id}/pause', '/v1/schedules/{id}/unpause', '/v1/schedules/{id}/trigger',
        '/v1/failovers/readiness',
      ]));
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/v1/sandbox'))).toEqual([]);
      expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
      expect(doc.security).toEqual([{ bearerAuth: [] }]);
      expect(doc.paths['/healthz'].get.security).toEqual([]);

      const start = doc.paths['/v1/deployments'].post;
      const body = start.requestBody.content['application/json'].schema;
      expect(body.required).toEqual(['service', 'environment', 'version']);
      expect(body.additionalProperties).toBe(false);
      expect(body.properties.version.pattern).toBeTruthy();
      expect(Object.keys(start.responses).sort()).toEqual(['201', '400', '401', '403', '409', '429', '500', '503']);
      expect(start.responses['201'].content['application/json'].schema.properties).toHaveProperty('links');

      const act = doc.paths['/v1/deployments/{id}/actions'].post;
      expect(act.requestBody.content['application/json'].schema.properties.action.enum).toEqual(['pause', 'resume', 'promote', 'extend', 'rollback']);
      const status = doc.paths['/v1/deployments/{id}'].get.responses['200'].content['application/json'].schema;
      expect(Object.keys(status.properties)).toEqual(expect.arrayContaining(['phase', 'outcome', 'weights', 'soak', 'analysis', 'timeline']));
    });

    it('serves the docs UI without a token', async () => {
      const res = await nobody.get('/docs');
      expect([200, 302]).toContain(res.status);
      if (res.status === 200) expect(String(res.body)).toMatch(/swagger/i);
    });
  });

  describe('the sandbox routes', () => {
    let dir: string;
    let sandboxApp: FastifyInstance;
    const people = [{ name: 'ada', roles: ['admin'], token: TOKENS.admin }];
    const fault = { service: 'web', environment: 'prod', colour: 'green', errorRate: 0.3 };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'baton-api-'));
      writeFileSync(join(dir, 'people.json'), JSON.stringify(people));
      const controlUrl = `http://127.0.0.1:${await freePort()}`; // nothing listens there
      sandboxApp = await buildApp({ client, config: resolveConfig(configDoc({ controlUrl, peopleFile: join(dir, 'people.json') })) });
    });
    afterAll(async () => {
      await sandboxApp?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lists the example people to an admin only', async () => {
      const res = await authed(sandboxApp, TOKENS.admin).get('/v1/sandbox/people');
      expect(res).toMatchObject({ status: 200, body: people });
      expect((await authed(sandboxApp, TOKENS.deployer).get('/v1/sandbox/people')).status).toBe(403);
      expect((await anonymous(sandboxApp).get('/v1/sandbox/people')).status).toBe(401);
    });

    it('lets deployers and admins inject faults, not viewers', async () => {
      expect((await authed(sandboxApp, TOKENS.viewer).post('/v1/sandbox/faults', fault)).status).toBe(403);
      expect((await authed(sandboxApp, TOKENS.deployer).post('/v1/sandbox/faults', fault)).status).toBe(502);
    });

    it.each([
      [{ ...fault, service: 'nope' }, /^service: unknown service 'nope'/, 'service'],
      [{ ...fault, environment: 'qa' }, /^environment: service 'web' has no environment 'qa'/, 'environment'],
      [{ ...fault, colour: 'red' }, /^colour: must be one of blue, green$/, 'colour'],
      [{ ...fault, errorRate: 2 }, /^errorRate: must be <= 1$/, 'errorRate'],
      [{ ...fault, latencyMs: -5 }, /^latencyMs: must be >= 0$/, 'latencyMs'],
    ])('refuses a bad fault %j', async (body, message, field) => {
      for (const method of ['post', 'delete'] as const) {
        const res = await authed(sandboxApp, TOKENS.admin)[method]('/v1/sandbox/faults', body);
        expect(res.status).toBe(400);
        expect(errorOf(res)).toEqual({ code: 'bad_request', message: expect.stringMatching(message), field });
      }
    });

    it('answers 502 with the error shape when the control server is unreachable', async () => {
      for (const res of [
        await authed(sandboxApp, TOKENS.admin).post('/v1/sandbox/faults', fault),
        await authed(sandboxApp, TOKENS.admin).delete('/v1/sandbox/faults', fault),
        await authed(sandboxApp, TOKENS.viewer).get('/v1/sandbox/faults'),
      ]) {
        expect(res.status).toBe(502);
        expect(errorOf(res)).toEqual({ code: 'bad_gateway', message: 'the sandbox control server is not reachable' });
      }
    });

    it('answers a failure inside with a bare 500 that leaks nothing', async () => {
      rmSync(join(dir, 'people.json'));
      const res = await authed(sandboxApp, TOKENS.admin).get('/v1/sandbox/people');
      expect(res.status).toBe(500);
      expect(errorOf(res)).toEqual({ code: 'internal', message: 'internal error (it has been logged)' });
      expect(JSON.stringify(res.body)).not.toMatch(/ENOENT|people\.json|baton-api-/);
    });
  });

  it('started no workflow for any refused request', async () => {
    const ids: string[] = [];
    for await (const wf of client.workflow.list()) ids.push(wf.workflowId);
    expect(ids).toEqual([]);
  });

  it('answers /readyz with 503 once the Temporal server has stopped', async () => {
    const fast = await buildApp({ client, config, readyTimeoutMs: 1000 });
    try {
      await temporal.server.stop();
      const res = await anonymous(fast).get('/readyz');
      expect(res.status).toBe(503);
      expect(errorOf(res).code).toBe('unavailable');
    } finally {
      await fast.close();
    }
  });
});

interface OpenApi {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  paths: Record<string, any>;
  components: { securitySchemes: Record<string, unknown> };
  security: unknown;
}
