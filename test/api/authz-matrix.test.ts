// The authorization matrix (issue 12): every route of the app, taken from its own route table,
// against every caller: no token, a bad token, one person per role of the config (built in and
// declared), and the sandbox's people. Each answer must be what the route's declared permission
// and the caller's roles (permissionsOf) say: 401, 403, or through to the handler. The requests
// are built never to change anything (ids that do not exist, an empty body), so an allowed
// caller gets a 200 listing, a 400 or a 404. Then the per-environment policy of direct
// deployments and of deployment actions, person by environment, against src/domain/policy.ts.
// On the real API (inject, no socket), dev server, moto and a worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, HTTPMethods } from 'fastify';
import { buildApp, routeTable, type RouteEntry } from '../../src/api/app';
import { personForToken } from '../../src/api/auth';
import { CODEC_COOKIE } from '../../src/api/routes/codec';
import { gateFor, hashToken, permissionsOf, type BatonConfig, type Person } from '../../src/config';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { deploymentActionRefusal, directDeploymentRefusal, type PolicyRefusal } from '../../src/domain/policy';
import { newToken } from '../../src/sandbox/sandbox-config';
import { authed, errorOf, type Answer, type ApiCaller } from '../harness/api';
import { commandBody, slackHeaders } from '../harness/slack-signing';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

// Soaks of an hour: the one deployment this test starts stays where it is until rolled back.
const PLAN = { steps: [{ shift: 10 }, { soak: '1h' }, { shift: 100 }], analysis: { interval: '30m' } };
const SLACK_SECRET = 'authz-matrix-signing-secret';

/** An id of each kind that names nothing: an allowed caller reaches the handler and gets 404 (or 400). */
const UNKNOWN_IDS: Record<string, string> = {
  deployments: 'deploy:web:dev:0.0.0-matrix',
  releases: 'release:web:0.0.0-matrix',
  restores: 'restore:orders:dev:19700101T000000Z',
  backups: 'backup:orders:dev:19700101T000000Z',
  failovers: 'failover:web:prod:planned-19700101T000000Z',
  freezes: 'freeze-999999',
  schedules: 'train-matrix',
};

/**
 * The routes that need no token, each for a reason: health checks (orchestrators probe them),
 * the API's description, Slack (which signs its requests instead), and the codec's sign-in page,
 * sign-out and CORS preflights (a browser sends no credentials there). Any other route without a
 * permission is a finding.
 */
const PUBLIC_ROUTES: Array<{ method: RegExp; url: RegExp }> = [
  { method: /^(GET|HEAD)$/, url: /^\/(healthz|readyz|openapi\.json)$/ },
  { method: /^(GET|HEAD)$/, url: /^\/docs(\/.*)?$/ },
  { method: /^POST$/, url: /^\/slack\/(interactions|commands)$/ },
  { method: /^(GET|HEAD)$/, url: /^\/codec\/login$/ },
  { method: /^DELETE$/, url: /^\/codec\/session$/ },
  { method: /^OPTIONS$/, url: /^\/codec\/(decode|encode)$/ },
];

interface Caller {
  label: string;
  /** Who the token names; null for no token or a token nobody holds. */
  person: Person | null;
  token: string | null;
  api: ApiCaller;
}

/** What the matrix expects of a caller on a route. */
type Verdict = 401 | 403 | 'through';

/** A route's URL with its parameters filled in with ids that exist nowhere. */
function concreteUrl(url: string): string {
  const kind = url.split('/')[2] ?? '';
  return url
    .replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(name === 'id' ? UNKNOWN_IDS[kind] ?? 'matrix-0' : 'matrix-0'))
    .replace(/\*$/, 'swagger-ui.css');
}

const routeName = (r: Pick<RouteEntry, 'method' | 'url'>) => `${r.method} ${r.url}`;

describe('the authorization matrix', () => {
  let stack: Stack;
  let config: BatonConfig;
  let app: FastifyInstance;
  let routes: readonly RouteEntry[];
  let callers: Caller[];
  /** The callers with a person: one per role, then the sandbox's people. */
  let people: Array<Caller & { person: Person }>;
  const asPerson = (name: string): Caller & { person: Person } => {
    const found = people.find((c) => c.person.name === name);
    if (!found) throw new Error(`no caller named ${name}`);
    return found;
  };

  beforeAll(async () => {
    // The codec on, so its routes are in the table too; workers per region as `npm start` runs
    // them, so the sandbox's region routes have regions to answer about.
    stack = await startStack({ plan: PLAN, codec: true, regionWorkers: true });
    const base = stack.config;
    const perRole = Object.keys(base.roles).map((role) => ({ name: `matrix-${role}`, roles: [role], token: newToken() }));
    config = {
      ...base,
      people: [...base.people, ...perRole.map(({ name, roles, token }) => ({ name, roles, tokenSha256: hashToken(token) }))],
      // The matrix sends a thousand requests from one address in a few seconds: not what the
      // rate limit is here to stop.
      api: { ...base.api, rateLimit: { perAddress: 1_000_000, perToken: 1_000_000, windowSeconds: 60 } },
    };
    // /readyz without the worker check: a worker that has not polled yet would make it a 503,
    // which says nothing about who may call it.
    app = await buildApp({ client: stack.client, config, readyWorkersWithinMs: null, slack: { signingSecret: SLACK_SECRET } });
    routes = routeTable(app);

    const withToken = (token: string): Caller & { person: Person } => {
      const person = personForToken(config.people, token);
      if (!person) throw new Error('a test token names nobody');
      return { label: `${person.name} (${person.roles.join(', ')})`, person, token, api: authed(app, token) };
    };
    const badToken = newToken();
    people = [...perRole.map((p) => withToken(p.token)), ...Object.values(stack.people).map(withToken)];
    callers = [
      { label: 'no token', person: null, token: null, api: authed(app, null) },
      { label: 'bad token', person: null, token: badToken, api: authed(app, badToken) },
      ...people,
    ];
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const isPublic = (r: RouteEntry) => PUBLIC_ROUTES.some((p) => p.method.test(r.method) && p.url.test(r.url));
  const guarded = () => routes.filter((r) => r.permission !== null);

  function verdict(route: RouteEntry, caller: Caller): Verdict {
    if (!caller.person) return 401;
    return permissionsOf(config, caller.person).has(route.permission!) ? 'through' : 403;
  }

  /**
   * The request of the matrix: the route's URL with unknown ids; an empty JSON body where one may
   * go. Sent as is (not through the harness's caller, which reads a JSON body a HEAD lacks).
   */
  async function send(caller: Caller, route: RouteEntry, withBody = true): Promise<Answer> {
    const method = route.method as HTTPMethods;
    const bodyless = !withBody || method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
    const res = await app.inject({
      method,
      url: concreteUrl(route.url),
      headers: caller.token === null ? {} : { authorization: `Bearer ${caller.token}` },
      ...(bodyless ? {} : { payload: {} }),
    });
    const json = res.body !== '' && String(res.headers['content-type'] ?? '').includes('json');
    return { status: res.statusCode, body: json ? res.json() : res.body, headers: res.headers };
  }

  it('lists every route, and every route needing no permission is a deliberate public one', async () => {
    expect(routes.length).toBeGreaterThan(0);
    // Every /v1 route names its permission (authorize refuses one that does not to everybody).
    const forgotten = routes.filter((r) => r.url.startsWith('/v1/') && r.permission === null).map(routeName);
    expect(forgotten, 'routes under /v1 without config.permission').toEqual([]);
    const unexplained = routes.filter((r) => r.permission === null && !isPublic(r)).map(routeName);
    expect(unexplained, 'routes without a permission that are not listed as public').toEqual([]);
    // The table is the whole API: every operation the OpenAPI document describes is in it.
    const doc = (await callers[0].api.get<{ paths: Record<string, Record<string, unknown>> }>('/openapi.json')).body;
    const described = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`));
    expect(described.length).toBeGreaterThan(30);
    expect(described.filter((op) => !routes.some((r) => routeName(r) === op))).toEqual([]);
  });

  it('answers every guarded route for every caller as its permission and the caller\'s roles say', async () => {
    const table = guarded();
    const failures: string[] = [];
    let requests = 0;
    const tally: Record<string, number> = { 401: 0, 403: 0, through: 0 };
    for (const route of table) {
      const answers = await Promise.all(callers.map((c) => send(c, route)));
      requests += answers.length;
      const through = new Set<number>();
      answers.forEach((a, i) => {
        const caller = callers[i];
        const want = verdict(route, caller);
        tally[want]++;
        const got = `${routeName(route)} as ${caller.label}: ${a.status} ${route.method === 'HEAD' ? '' : JSON.stringify(a.body).slice(0, 200)}`;
        if (want === 'through') {
          if (a.status === 401 || a.status === 403 || a.status >= 500) failures.push(`${got} (expected to reach the handler)`);
          through.add(a.status);
          return;
        }
        if (a.status !== want) {
          failures.push(`${got} (expected ${want})`);
          return;
        }
        if (route.method === 'HEAD') return;
        const error = errorOf(a);
        if (want === 401 && error.code !== 'unauthorized') failures.push(`${got} (expected code unauthorized)`);
        // A 403 names who was refused, with their roles, and what they may not do.
        if (want === 403 && (error.code !== 'forbidden' || !error.message.startsWith(`${caller.person!.name} (${caller.person!.roles.join(', ')}) may not `))) {
          failures.push(`${got} (expected a 403 naming ${caller.person!.name})`);
        }
      });
      // The roles decide whether a request gets through, never what it then gets.
      if (through.size > 1) failures.push(`${routeName(route)}: allowed callers got different answers: ${[...through].join(', ')}`);
    }
    const withoutHead = table.filter((r) => r.method !== 'HEAD').length;
    console.log(`authorization matrix: ${table.length} guarded routes (${withoutHead} without GET's HEAD twins) × ${callers.length} callers = ${requests} requests`
      + ` (${tally[401]} expected 401, ${tally[403]} expected 403, ${tally.through} expected through)`);
    expect(failures).toEqual([]);
    expect(withoutHead).toBeGreaterThanOrEqual(30);
    expect(callers.length).toBeGreaterThanOrEqual(Object.keys(config.roles).length + 2);
    expect(requests).toBe(table.length * callers.length);
  }, 300_000);

  it('tries every role, and for every permission a route names both a holder and someone without it', () => {
    // Every role of the config has its own person in the matrix, and so has every permission a
    // route names both a holder and (but for read) someone without it.
    for (const role of Object.keys(config.roles)) expect(people.some((c) => c.person.roles.length === 1 && c.person.roles[0] === role), role).toBe(true);
    const named = new Set(guarded().map((r) => r.permission!));
    for (const permission of named) {
      expect(people.some((c) => permissionsOf(config, c.person).has(permission)), `a holder of ${permission}`).toBe(true);
      if (permission !== 'read') expect(people.some((c) => !permissionsOf(config, c.person).has(permission)), `someone without ${permission}`).toBe(true);
    }
  });

  it('public routes answer without a token, and a bad token changes nothing there', async () => {
    const failures: string[] = [];
    const anonymous = callers.filter((c) => c.person === null);
    for (const route of routes.filter((r) => r.permission === null && !r.url.startsWith('/slack/'))) {
      for (const caller of anonymous) {
        const a = await send(caller, route, false);
        if (a.status === 401 || a.status === 403 || a.status >= 500) failures.push(`${routeName(route)} as ${caller.label}: ${a.status}`);
      }
    }
    expect(failures).toEqual([]);
    expect((await anonymous[0].api.get('/healthz')).status).toBe(200);
    expect((await anonymous[1].api.get('/readyz')).status).toBe(200);
  });

  it('Slack\'s routes take Slack\'s signature, never a bearer token', async () => {
    const slackRoutes = routes.filter((r) => r.url.startsWith('/slack/'));
    expect(slackRoutes.map(routeName).sort()).toEqual(['POST /slack/commands', 'POST /slack/interactions']);
    const body = commandBody({ ssl_check: '1' });
    for (const route of slackRoutes) {
      // Unsigned: refused whoever's token comes with it, the admin's included.
      for (const caller of [callers[0], callers[1], asPerson('ada')]) {
        const a = await caller.api.inject({ method: 'POST', url: route.url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
        expect(a.status, `${routeName(route)} as ${caller.label}`).toBe(401);
        expect(errorOf(a).message).toMatch(/not a verified Slack request/);
      }
      const forged = await callers[0].api.inject({ method: 'POST', url: route.url, headers: slackHeaders(SLACK_SECRET, body, { secret: 'not-the-secret' }), payload: body });
      expect(forged.status).toBe(401);
    }
    // Signed, without any token: through (Slack's check that the endpoint is there).
    const signed = await callers[0].api.inject({ method: 'POST', url: '/slack/commands', headers: slackHeaders(SLACK_SECRET, body), payload: body });
    expect(signed.status).toBe(200);
  });

  it('the codec takes a token or the session cookie holding one, for people with read', async () => {
    const payloads = { payloads: [] };
    const login = await asPerson('val').api.post<{ person: string }>('/codec/session');
    expect(login.status).toBe(200);
    expect(login.body.person).toBe('val');
    const setCookie = String(login.headers['set-cookie']);
    const session = /baton_codec=([^;]*)/.exec(setCookie)?.[1];
    expect(session).toBeTruthy();
    const byCookie = (value: string) => callers[0].api.inject({ method: 'POST', url: '/codec/decode', headers: { cookie: `${CODEC_COOKIE}=${value}` }, payload: payloads });
    expect((await byCookie(session!)).status).toBe(200);
    expect((await byCookie(newToken())).status).toBe(401);
    expect((await callers[0].api.post('/codec/decode', payloads)).status).toBe(401);
    // Its own rule: a namespace other than the client's is refused, token or not.
    const otherNamespace = await asPerson('val').api.inject({ method: 'POST', url: '/codec/decode', headers: { 'x-namespace': 'elsewhere' }, payload: payloads });
    expect(otherNamespace.status).toBe(403);
  });

  describe('per environment', () => {
    const service = 'web';
    const environments = () => config.promotion;
    const gated = (env: string) => gateFor(config, service, env) !== null;
    /**
     * Whether the answer is the policy's refusal. A person without `deploy` anywhere is refused
     * by the route's permission before the policy is asked: the same status, the route's words.
     */
    const refusedAs = (a: Answer, person: Person, why: PolicyRefusal): boolean => {
      if (a.status !== why.status) return false;
      if (!permissionsOf(config, person).has('deploy')) return errorOf(a).message.startsWith(`${person.name} (${person.roles.join(', ')}) may not `);
      return errorOf(a).message === why.message;
    };

    it('direct deployments: each person into each environment, with and without break-glass, as the policy says', async () => {
      const allowed: string[] = [];
      const failures: string[] = [];
      let refused = 0;
      for (const environment of environments()) {
        for (const breakGlass of [null, { reason: 'authz matrix' }]) {
          await Promise.all(people.map(async (caller) => {
            const why = directDeploymentRefusal(config, caller.person, { service, environment, gated: gated(environment), breakGlass, freezes: config.freezes, nowMs: Date.now() });
            const pair = `${caller.person.name} → ${environment}${breakGlass ? ' (break-glass)' : ''}`;
            // An allowed pair would really deploy: it is listed, not sent (one is, below).
            if (!why) {
              allowed.push(pair);
              return;
            }
            refused++;
            const a = await caller.api.post('/v1/deployments', { service, environment, version: '0.0.1-matrix', ...(breakGlass ? { breakGlass } : {}) });
            if (!refusedAs(a, caller.person, why)) failures.push(`${pair}: ${a.status} ${JSON.stringify(a.body)} (expected ${why.status} ${why.message})`);
          }));
        }
      }
      console.log(`direct deployments: ${refused} refused person × environment pairs sent, ${allowed.length} allowed pairs`);
      expect(failures).toEqual([]);
      // What the sandbox's config means, written out: deploy in dev for the roles with `deploy`
      // there; staging and prod are gated for web, so only break-glass gets in, and only ada holds it.
      expect(allowed.sort()).toEqual([
        'ada → dev', 'ada → dev (break-glass)', 'ada → prod (break-glass)', 'ada → staging (break-glass)',
        'dan → dev', 'matrix-admin → dev', 'matrix-deployer → dev', 'matrix-release-manager → dev', 'remi → dev', 'rosa → dev',
      ].sort());
      expect(environments()).toEqual(['dev', 'staging', 'prod']);
      expect((await asPerson('val').api.get('/v1/deployments/deploy:web:dev:0.0.1-matrix')).status).toBe(404);
    });

    it('the deployer role deploys to dev (201), and rolls its deployment back', async () => {
      const deployer = asPerson('matrix-deployer');
      const res = await deployer.api.post<{ id: string }>('/v1/deployments', { service, environment: 'dev', version: '0.0.1-matrix' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const id = res.body.id;
      expect(id).toBe('deploy:web:dev:0.0.1-matrix');
      const viewer = asPerson('matrix-viewer').api;
      // An action right after the start may find the run not yet ready to take it (409): retried.
      await until(`${id} to take the rollback`, () => deployer.api.post(`/v1/deployments/${id}/actions`, { action: 'rollback', reason: 'authz matrix over' }), (a) => a.status === 200, 90_000);
      const done = await until(`${id} rolled back`, () => viewer.get<DeploymentStatus>(`/v1/deployments/${id}`).then((r) => r.body), (s) => s.outcome !== null, 90_000);
      expect(done.outcome).toBe('rolled_back');
    }, 200_000);

    it('deployment actions: each person on each environment\'s deployments, rollback and promote, as the policy says', async () => {
      const failures: string[] = [];
      let sent = 0;
      for (const environment of environments()) {
        // No such deployment: an allowed action gets through to a 404; a refused one is a 403 first.
        const id = `deploy:${service}:${environment}:0.0.0-matrix`;
        for (const action of ['rollback', 'promote']) {
          await Promise.all(people.map(async (caller) => {
            const why = deploymentActionRefusal(config, caller.person, environment, action, gated(environment));
            const a = await caller.api.post(`/v1/deployments/${encodeURIComponent(id)}/actions`, { action, reason: 'authz matrix' });
            sent++;
            if (why ? !refusedAs(a, caller.person, why) : a.status !== 404) {
              failures.push(`${caller.person.name} ${action} in ${environment}: ${a.status} ${JSON.stringify(a.body)} (expected ${why ? `${why.status} ${why.message}` : 404})`);
            }
          }));
        }
      }
      console.log(`deployment actions: ${sent} person × environment × action requests`);
      expect(failures).toEqual([]);
    });
  });
});
