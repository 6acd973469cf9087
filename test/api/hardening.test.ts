// The API's hardening against a real Temporal dev server (no worker: nothing here starts a
// workflow): names that every object inherits are 400s, long ids reach their routes, callers
// without a deciding role get 403 before any state, rate limits answer 429 with Retry-After, and
// Slack requests from another workspace or app, or answers to a host that is not Slack's, are refused.
import { FRONT_DOOR_TOKENS, frontDoorConfigDoc } from '../harness/fixtures';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { ConfigError, ownEntry, resolveConfig, type BatonConfig } from '../../src/config';
import { anonymous, authed, errorOf, type ApiCaller } from '../harness/api';
import { startFakeSlack, type FakeSlack } from '../harness/fake-slack';
import { startTemporalWithClient, type TemporalWithClient } from '../harness/servers';
import { commandBody, slackHeaders } from '../harness/slack-signing';

const TOKENS = FRONT_DOOR_TOKENS;
const SECRET = 'a-signing-secret-for-tests';
const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];

/** The front-door config with prod gated (an approver's rule), so approvals have someone to refuse. */
function configDoc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return frontDoorConfigDoc({ environments: { prod: { plan: 'quick', gate: { approvals: [{ role: 'approver', count: 1 }] } } }, ...extra });
}

describe('API hardening', () => {
  let temporal: TemporalWithClient;
  let config: BatonConfig;
  let app: FastifyInstance;
  let as: Record<keyof typeof TOKENS, ApiCaller>;

  beforeAll(async () => {
    temporal = await startTemporalWithClient();
    config = resolveConfig(configDoc());
    app = await buildApp({ client: temporal.client, config, readyWorkersWithinMs: null });
    as = {
      admin: authed(app, TOKENS.admin),
      deployer: authed(app, TOKENS.deployer),
      viewer: authed(app, TOKENS.viewer),
      approver: authed(app, TOKENS.approver),
    };
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await temporal?.stop();
  });

  describe('names every object inherits', () => {
    it('ownEntry finds only a record\'s own entries', () => {
      const record: Record<string, number> = { web: 1 };
      expect(ownEntry(record, 'web')).toBe(1);
      for (const name of INHERITED) expect(ownEntry(record, name)).toBeUndefined();
    });

    it('answers 400 naming the field for a service or environment named like an inherited property', async () => {
      for (const name of INHERITED) {
        const asService = await as.admin.post('/v1/deployments', { service: name, environment: 'prod', version: '1.0.0' });
        expect(asService.status, `${name}: ${JSON.stringify(asService.body)}`).toBe(400);
        expect(errorOf(asService)).toMatchObject({ code: 'bad_request', field: 'service', message: expect.stringContaining(`unknown service '${name}'`) });

        const asEnvironment = await as.admin.post('/v1/deployments', { service: 'web', environment: name, version: '1.0.0' });
        expect(asEnvironment.status, `${name}: ${JSON.stringify(asEnvironment.body)}`).toBe(400);
        expect(errorOf(asEnvironment)).toMatchObject({ code: 'bad_request', field: 'environment' });

        const release = await as.admin.post('/v1/releases', { service: name, version: '1.0.0' });
        expect(release.status, `${name}: ${JSON.stringify(release.body)}`).toBe(400);
        expect(errorOf(release)).toMatchObject({ field: 'service' });

        const restore = await as.admin.post('/v1/restores/plan', { environment: 'prod', database: name, target: { latest: true }, reason: 'test' });
        expect(restore.status, `${name}: ${JSON.stringify(restore.body)}`).toBe(400);
        expect(errorOf(restore)).toMatchObject({ field: 'database' });

        const failover = await as.admin.post('/v1/failovers/plan', { service: name, environment: 'prod', fromRegion: 'us-east-1', toRegion: 'us-west-2', mode: 'planned', reason: 'test' });
        expect(failover.status, `${name}: ${JSON.stringify(failover.body)}`).toBe(400);
        expect(errorOf(failover)).toMatchObject({ field: 'service' });
      }
    });
  });

  describe('long ids', () => {
    it('reaches a deployment id with a 64-character version (404: no such run, not: no route)', async () => {
      const id = `deploy:web:prod:${'v'.repeat(64)}`;
      for (const res of [await as.viewer.get(`/v1/deployments/${id}`), await as.deployer.post(`/v1/deployments/${id}/actions`, { action: 'pause', reason: 'test' })]) {
        expect(res.status, JSON.stringify(res.body)).toBe(404);
        expect(errorOf(res).message).toBe(`no deployment '${id}'`);
      }
      const release = await as.viewer.get(`/v1/releases/release:web:${'v'.repeat(64)}`);
      expect(release.status).toBe(404);
      expect(errorOf(release).message).toMatch(/^no release /);
    });

    it('refuses an absurdly long id with 400 naming it', async () => {
      const res = await as.viewer.get(`/v1/deployments/deploy:web:prod:${'v'.repeat(300)}`);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'bad_request', field: 'id' });
    });
  });

  describe('authorization before state', () => {
    it('refuses a decision with 403 from someone no approval rule names, whether or not the run exists or its gate is open', async () => {
      const release = await as.viewer.post('/v1/releases/release:web:1.0.0/approvals', { environment: 'prod', decision: 'approve' });
      expect(release.status, JSON.stringify(release.body)).toBe(403);
      expect(errorOf(release).message).toBe("val (roles viewer) may not decide on gate 'prod': it needs role approver");
      // Someone the rules name gets the run's own answer: there is no such release.
      expect((await as.approver.post('/v1/releases/release:web:1.0.0/approvals', { environment: 'prod', decision: 'approve' })).status).toBe(404);
    });
  });

  describe('rate limits', () => {
    it('answers 429 with Retry-After over the per-token limit, counting each token apart; health checks are never limited', async () => {
      const limited = await buildApp({ client: temporal.client, config: resolveConfig(configDoc({ api: { rateLimit: { perToken: 3, perAddress: 100, window: '1m' } } })), readyWorkersWithinMs: null });
      try {
        const viewer = authed(limited, TOKENS.viewer);
        for (let i = 0; i < 3; i++) expect((await viewer.get('/v1/schedules')).status).toBe(200);
        const refused = await viewer.get('/v1/schedules');
        expect(refused.status).toBe(429);
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
        expect(errorOf(refused)).toEqual({ code: 'too_many_requests', message: expect.stringMatching(/^too many requests with this token: at most 3 per 1 min; retry in \d+ s$/) });
        expect((await authed(limited, TOKENS.admin).get('/v1/schedules')).status).toBe(200);
        for (let i = 0; i < 10; i++) expect((await anonymous(limited).get('/healthz')).status).toBe(200);
      } finally {
        await limited.close();
      }
    });

    it('answers 429 over the per-address limit, whatever the token', async () => {
      const limited = await buildApp({ client: temporal.client, config: resolveConfig(configDoc({ api: { rateLimit: { perToken: 100, perAddress: 4 } } })), readyWorkersWithinMs: null });
      try {
        for (const token of [TOKENS.admin, TOKENS.viewer, TOKENS.deployer, TOKENS.approver]) expect((await authed(limited, token).get('/v1/schedules')).status).toBe(200);
        const refused = await anonymous(limited).get('/v1/schedules');
        expect(refused.status).toBe(429);
        expect(refused.headers['retry-after']).toBeDefined();
        expect(errorOf(refused).message).toMatch(/^too many requests from 127\.0\.0\.1: at most 4 per 1 min/);
      } finally {
        await limited.close();
      }
    });

    it('has defaults far above what tests and people send', () => {
      expect(config.api.rateLimit).toEqual({ perToken: 600, perAddress: 1200, windowSeconds: 60 });
    });
  });

  describe('Slack', () => {
    let fake: FakeSlack;
    let elsewhere: Server;
    let elsewhereHits: string[];
    let elsewhereUrl: string;

    beforeAll(async () => {
      fake = await startFakeSlack();
      elsewhereHits = [];
      elsewhere = createServer((req: IncomingMessage, res) => {
        elsewhereHits.push(req.url ?? '');
        res.end('ok');
      });
      elsewhere.listen(0, '127.0.0.1');
      await once(elsewhere, 'listening');
      const address = elsewhere.address();
      elsewhereUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/respond`;
    });

    afterAll(async () => {
      await fake?.stop();
      elsewhere?.closeAllConnections();
      elsewhere?.close();
    });

    const slackApp = (doc: Record<string, unknown>) =>
      buildApp({ client: temporal.client, config: resolveConfig(doc), readyWorkersWithinMs: null, slack: { signingSecret: SECRET, botToken: 'xoxb-test', apiUrl: fake.apiUrl, replyWithinMs: 0 } });

    async function command(a: FastifyInstance, fields: Record<string, string>) {
      const body = commandBody({ command: '/baton', user_id: 'U0VAL', team_id: 'T0BATON', api_app_id: 'A0BATON', text: 'help', ...fields });
      const res = await a.inject({ method: 'POST', url: '/slack/commands', payload: body, headers: slackHeaders(SECRET, body) });
      return { status: res.statusCode, body: res.json() as Record<string, unknown> };
    }

    it('refuses a signed request from another workspace or app with 403 when config names its own', async () => {
      const a = await slackApp(configDoc({ notifications: { slackTeamId: 'T0BATON', slackAppId: 'A0BATON' } }));
      try {
        expect(await command(a, {})).toMatchObject({ status: 200, body: { response_type: 'ephemeral' } });
        const team = await command(a, { team_id: 'T0OTHER' });
        expect(team.status).toBe(403);
        expect(team.body).toEqual({ error: { code: 'forbidden', message: 'this Baton takes Slack requests from workspace T0BATON only, not T0OTHER' } });
        const app2 = await command(a, { api_app_id: 'A0OTHER' });
        expect(app2.status).toBe(403);
        expect((app2.body.error as { message: string }).message).toBe('this Baton takes Slack requests for app A0BATON only, not A0OTHER');
      } finally {
        await a.close();
      }
    });

    it('posts late answers only to Slack\'s hosts: another host\'s response_url is never called', async () => {
      const a = await slackApp(configDoc());
      try {
        // replyWithinMs 0: a command that asks Temporal answers late, through its response_url.
        const toSlack = fake.responseUrl();
        expect(await command(a, { text: 'status web prod', response_url: toSlack })).toMatchObject({ status: 200, body: { text: 'Working on it…' } });
        const direct = await command(a, { text: 'status web prod', response_url: elsewhereUrl });
        expect(direct).toMatchObject({ status: 200, body: { text: 'No deployment of web to prod yet.' } });
      } finally {
        await a.close(); // waits for the late answer
      }
      expect(fake.responses.map((r) => r.body.text)).toContain('No deployment of web to prod yet.');
      expect(elsewhereHits).toEqual([]);
    });
  });

  it('refuses a config where two people share a Slack user id, naming both', () => {
    const doc = configDoc();
    (doc.people as Array<Record<string, unknown>>)[2].slackUserId = 'U0ADA';
    expect(() => resolveConfig(doc)).toThrow(ConfigError);
    expect(() => resolveConfig(doc)).toThrow("config field 'people.2.slackUserId': 'U0ADA' is already ada's; val needs their own");
  });
});
