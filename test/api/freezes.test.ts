// Freezes through the API on a whole local Baton (Temporal dev server, moto seeded with the
// sandbox, a real worker). The stack's config has two freezes of its own: staging is frozen
// now (config-1) and prod over Christmas 2099 (config-2). Release managers (rosa, remi) and the
// admin may declare and lift; developers, deployers and viewers may not. A freeze declared
// through the API reaches a release that is already running, and so does lifting it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { formatUtc } from '../../src/domain/calendar';
import { releaseId, type GateSpec } from '../../src/domain/release';
import { buildDeploymentSpec } from '../../src/temporal/deployments';
import type { FreezeRecord, ListedFreeze } from '../../src/temporal/freezes';
import {
  FREEZE_REGISTRY_ID,
  freezesQuery,
  releaseCancelUpdate,
  type ReleaseInput,
  type ReleaseStatus,
} from '../../workflows/messages';
import { anonymous, authed, errorOf, type Answer, type ApiCaller } from '../harness/api';
import { PROD_TRAIN } from '../harness/fixtures';
import { startStack, type FreezeDoc, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

const HOUR = 3600_000;
const at = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();

const CONFIG_FREEZES: FreezeDoc[] = [
  { from: '2020-01-01T00:00:00Z', to: '2099-01-01T00:00:00Z', environments: ['staging'], reason: 'staging is being rebuilt' },
  { from: '2099-12-24T00:00:00-08:00', to: '2099-12-27T00:00:00-08:00', environments: ['prod'], reason: 'Christmas 2099' },
];

/** A gate that needs nothing but the prod train: a release is ready for it at once. */
const TRAIN_ONLY: GateSpec = { checks: [], approvals: [], stabilitySeconds: 0, train: 'prod', expirySeconds: 3600 };

interface FreezesBody {
  freezes: ListedFreeze[];
}

describe('API: freezes on a real worker', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let as: Record<'admin' | 'rosa' | 'remi' | 'dev' | 'dan' | 'val', ApiCaller>;

  beforeAll(async () => {
    stack = await startStack({ freezes: CONFIG_FREEZES });
    app = await buildApp({ client: stack.client, config: stack.config });
    const p = stack.people;
    as = {
      admin: authed(app, p.admin),
      rosa: authed(app, p.releaseManager),
      remi: authed(app, p.releaseManager2),
      dev: authed(app, p.developer),
      dan: authed(app, p.deployer),
      val: authed(app, p.viewer),
    };
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const list = async (): Promise<ListedFreeze[]> => {
    const res = await as.val.get<FreezesBody>('/v1/freezes');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.freezes;
  };
  const ids = async (): Promise<string[]> => (await list()).map((f) => f.id);

  /** The registry's revision (bumped by every accepted declaration and lift); -1 before it exists. */
  const revision = async (): Promise<number> => {
    try {
      return (await stack.client.workflow.getHandle(FREEZE_REGISTRY_ID).query(freezesQuery)).revision;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return -1;
      throw err;
    }
  };

  const declare = async (who: ApiCaller, body: Record<string, unknown>): Promise<FreezeRecord> => {
    const res = await who.post<FreezeRecord>('/v1/freezes', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const lift = async (who: ApiCaller, id: string): Promise<FreezeRecord> => {
    const res = await who.delete<FreezeRecord>(`/v1/freezes/${id}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  /** Sends a request that must be refused, and checks that no freeze changed. */
  async function refused(send: () => Promise<Answer>, status: number): Promise<ReturnType<typeof errorOf>> {
    const [before, rev] = [await list(), await revision()];
    const res = await send();
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(await list()).toEqual(before);
    expect(await revision()).toBe(rev);
    return errorOf(res);
  }

  it('lists the config file\'s freezes, with their source and whether they hold now', async () => {
    expect(await list()).toEqual([
      {
        id: 'config-1', from: '2020-01-01T00:00:00.000Z', to: '2099-01-01T00:00:00.000Z', environments: ['staging'],
        reason: 'staging is being rebuilt', source: 'config', declaredBy: null, declaredAt: null, allowBreakGlass: false, active: true,
      },
      {
        id: 'config-2', from: '2099-12-24T08:00:00.000Z', to: '2099-12-27T08:00:00.000Z', environments: ['prod'],
        reason: 'Christmas 2099', source: 'config', declaredBy: null, declaredAt: null, allowBreakGlass: false, active: false,
      },
    ]);
  });

  it('declares a freeze for a release manager (201 with its id and location), lists it after config\'s, and lifts it (200, gone)', async () => {
    const from = at(24 * HOUR);
    const to = at(48 * HOUR);
    const res = await as.rosa.post<FreezeRecord>('/v1/freezes', { from, to, environments: ['prod', 'staging'], reason: '  launch week  ' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const freeze = res.body;
    expect(freeze).toEqual({
      id: expect.stringMatching(/^freeze-\d+$/),
      from,
      to,
      environments: ['prod', 'staging'],
      reason: 'launch week',
      source: 'api',
      declaredBy: 'rosa',
      declaredAt: expect.any(String),
      allowBreakGlass: false,
    });
    expect(Math.abs(Date.parse(freeze.declaredAt ?? '') - Date.now())).toBeLessThan(60_000);
    expect(res.headers.location).toBe(`/v1/freezes/${freeze.id}`);

    const one = await as.val.get<ListedFreeze>(`/v1/freezes/${freeze.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ ...freeze, active: false });
    expect(await list()).toEqual([
      expect.objectContaining({ id: 'config-1', source: 'config' }),
      expect.objectContaining({ id: 'config-2', source: 'config' }),
      { ...freeze, active: false },
    ]);

    expect(await lift(as.remi, freeze.id)).toEqual(freeze);
    expect(await ids()).toEqual(['config-1', 'config-2']);
    expect((await as.val.get(`/v1/freezes/${freeze.id}`)).status).toBe(404);
  });

  it('lets the admin declare and lift too', async () => {
    const freeze = await declare(as.admin, { from: at(HOUR), to: at(2 * HOUR), environments: ['dev'], reason: 'game day' });
    expect(freeze).toMatchObject({ source: 'api', declaredBy: 'ada', environments: ['dev'] });
    expect(await ids()).toEqual(['config-1', 'config-2', freeze.id]);
    await lift(as.admin, freeze.id);
    expect(await ids()).toEqual(['config-1', 'config-2']);
  });

  describe('refuses bad input with 400 naming the field, and nothing changes', () => {
    const good = () => ({ from: at(HOUR), to: at(2 * HOUR), environments: ['prod'], reason: 'maintenance' });
    const cases: Array<[string, () => Record<string, unknown>, string, RegExp]> = [
      ['a missing reason', () => ({ ...good(), reason: undefined }), 'reason', /^body: must have required property 'reason'$/],
      ['a blank reason', () => ({ ...good(), reason: '   ' }), 'reason', /^reason: must match pattern/],
      ['an empty reason', () => ({ ...good(), reason: '' }), 'reason', /^reason: /],
      ['to before from', () => ({ ...good(), from: at(2 * HOUR), to: at(HOUR) }), 'to', /^to: must be after from \(/],
      ['to equal to from', () => { const instant = at(HOUR); return { ...good(), from: instant, to: instant }; }, 'to', /^to: must be after from \(/],
      ['to in the past', () => ({ ...good(), from: at(-2 * HOUR), to: at(-HOUR) }), 'to', /^to: .* has already passed; a freeze must end in the future$/],
      ['an unknown environment', () => ({ ...good(), environments: ['prod', 'prd'] }), 'environments.1', /^environments\.1: 'prd' is not an environment \(known: dev, staging, prod\)$/],
      ['no environment', () => ({ ...good(), environments: [] }), 'environments', /^environments: /],
      ['from that is not an instant', () => ({ ...good(), from: 'next tuesday' }), 'from', /^from: 'next tuesday' is not an ISO instant with a zone/],
      ['to without a zone', () => ({ ...good(), to: '2099-01-01T00:00:00' }), 'to', /^to: '2099-01-01T00:00:00' is not an ISO instant with a zone/],
      ['an unknown property', () => ({ ...good(), service: 'web' }), 'service', /^body: unknown property 'service'$/],
      ['environments that are not a list', () => ({ ...good(), environments: 'prod' }), 'environments', /^environments: must be array$/],
    ];
    for (const [what, body, field, message] of cases) {
      it(`refuses ${what}`, async () => {
        const b = JSON.parse(JSON.stringify(body())) as Record<string, unknown>;
        const error = await refused(() => as.rosa.post('/v1/freezes', b), 400);
        expect(error).toEqual({ code: 'bad_request', message: expect.stringMatching(message), field });
      });
    }

    it('refuses a body that is not JSON', async () => {
      const error = await refused(() => as.rosa.inject({ method: 'POST', url: '/v1/freezes', payload: '{"from":', headers: { 'content-type': 'application/json' } }), 400);
      expect(error).toMatchObject({ code: 'bad_request' });
    });
  });

  describe('who may', () => {
    it('refuses declaring to a developer, a deployer and a viewer (403), changing nothing', async () => {
      for (const [who, name] of [[as.dev, 'dev'], [as.dan, 'dan'], [as.val, 'val']] as const) {
        const error = await refused(() => who.post('/v1/freezes', { from: at(HOUR), to: at(2 * HOUR), environments: ['prod'], reason: 'mine' }), 403);
        expect(error).toEqual({ code: 'forbidden', message: expect.stringMatching(new RegExp(`^${name} \\(.*\\) may not declare or lift freezes \\(needs .*release-manager.*\\)$`)) });
      }
    });

    it('refuses lifting to a developer, a deployer and a viewer (403); the freeze stays', async () => {
      const freeze = await declare(as.rosa, { from: at(HOUR), to: at(2 * HOUR), environments: ['prod'], reason: 'held for the test' });
      try {
        for (const who of [as.dev, as.dan, as.val]) {
          const error = await refused(() => who.delete(`/v1/freezes/${freeze.id}`), 403);
          expect(error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/may not declare or lift freezes/) });
        }
        expect(await ids()).toContain(freeze.id);
      } finally {
        await lift(as.rosa, freeze.id);
      }
    });

    it('lets anyone with a token read the freezes, and nobody without one (401)', async () => {
      for (const who of [as.dev, as.dan, as.val]) expect((await who.get('/v1/freezes')).status).toBe(200);
      const res = await anonymous(app).get('/v1/freezes');
      expect(res.status).toBe(401);
      expect(errorOf(res).code).toBe('unauthorized');
      expect((await anonymous(app).post('/v1/freezes', { from: at(HOUR), to: at(2 * HOUR), environments: ['prod'], reason: 'x' })).status).toBe(401);
    });
  });

  it('answers 404 lifting or reading an unknown freeze, changing nothing', async () => {
    for (const id of ['freeze-999', 'nonsense', 'config-9']) {
      const error = await refused(() => as.rosa.delete(`/v1/freezes/${id}`), 404);
      expect(error).toEqual({ code: 'not_found', message: expect.stringContaining(`'${id}'`) });
      expect((await as.val.get(`/v1/freezes/${id}`)).status).toBe(404);
    }
  });

  it('answers 404 lifting a freeze that has already been lifted', async () => {
    const freeze = await declare(as.rosa, { from: at(HOUR), to: at(2 * HOUR), environments: ['prod'], reason: 'once' });
    await lift(as.rosa, freeze.id);
    const error = await refused(() => as.rosa.delete(`/v1/freezes/${freeze.id}`), 404);
    expect(error.message).toMatch(/lifted already, or ended/);
  });

  it('no longer lists a freeze that has ended, and answers 404 lifting it', async () => {
    const freeze = await declare(as.rosa, { from: at(-HOUR), to: at(2_000), environments: ['dev'], reason: 'a short one' });
    expect((await list()).find((f) => f.id === freeze.id)).toMatchObject({ active: true });
    await until('the freeze to end', ids, (listed) => !listed.includes(freeze.id), 10_000);
    const error = await refused(() => as.rosa.delete(`/v1/freezes/${freeze.id}`), 404);
    expect(error.message).toMatch(/lifted already, or ended/);
  });

  it('refuses lifting a config freeze with 409: only the config file lifts it', async () => {
    const error = await refused(() => as.admin.delete('/v1/freezes/config-1'), 409);
    expect(error).toEqual({ code: 'conflict', message: "freeze 'config-1' is declared in config: change the config file to lift it" });
    expect(await ids()).toEqual(['config-1', 'config-2']);
  });

  describe('on a release that is already running', () => {
    const id = releaseId('web', '8.0.0');
    let release: WorkflowHandle;

    const status = async (): Promise<ReleaseStatus> => {
      const res = await as.val.get<ReleaseStatus>(`/v1/releases/${id}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };
    const pending = (s: ReleaseStatus): string[] => s.environments[0].gate?.pending ?? [];

    beforeAll(async () => {
      // Straight to prod, needing only the train: it waits for the train at once.
      const input: ReleaseInput = {
        id,
        request: { service: 'web', version: '8.0.0', hotfix: false, requestedBy: 'dev' },
        stages: [{
          environment: 'prod',
          gate: TRAIN_ONLY,
          train: PROD_TRAIN,
          deployment: buildDeploymentSpec(stack.config, { service: 'web', environment: 'prod', version: '8.0.0', requestedBy: 'dev' }),
        }],
        freezes: [],
        hotfixApprovalRole: null,
        notify: stack.config.notifications,
      };
      release = await stack.client.workflow.start('release', { workflowId: id, taskQueue: stack.taskQueue, args: [input] });
    });

    afterAll(async () => {
      await release?.executeUpdate(releaseCancelUpdate, { args: [{ reason: 'end of the freeze test', by: 'ada' }] }).catch(() => undefined);
      await release?.result().catch(() => undefined);
    });

    it('holds it at its gate while a freeze covers now, and lets it wait for the train again once lifted, without a restart', async () => {
      await until('the release to wait for the train', status, (s) => s.phase === 'waiting_for_train', 60_000);
      // The registry tells the releases visibility lists; wait until this one is listed (visibility is eventually consistent).
      await until('the release to be listed', async () => {
        const found: string[] = [];
        for await (const wf of stack.client.workflow.list({ query: `BatonKind = 'release' AND ExecutionStatus = 'Running'` })) found.push(wf.workflowId);
        return found;
      }, (found) => found.includes(id), 30_000);

      const to = at(HOUR);
      const freeze = await declare(as.rosa, { from: at(-60_000), to, environments: ['prod'], reason: 'incident 42: hold prod' });
      const frozen = await until('the release to be held by the freeze', status, (s) => s.phase === 'gate_open' && pending(s).some((p) => p.includes('frozen until')), 60_000);
      expect(pending(frozen)).toContain(`frozen until ${formatUtc(Date.parse(to))}: incident 42: hold prod`);
      expect(frozen.outcome).toBeNull();
      expect((await list()).find((f) => f.id === freeze.id)).toMatchObject({ active: true, environments: ['prod'] });

      await lift(as.rosa, freeze.id);
      const thawed = await until('the release to wait for the train again', status, (s) => s.phase === 'waiting_for_train', 60_000);
      expect(pending(thawed).some((p) => p.includes('frozen'))).toBe(false);
      expect(thawed.outcome).toBeNull();
    }, 180_000);
  });

  it('describes the freeze routes in /openapi.json', async () => {
    const doc = (await anonymous(app).get<{ paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { content: Record<string, { schema: { required: string[]; additionalProperties: boolean } }> } }>> }>('/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/freezes']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/v1/freezes/{id}']).sort()).toEqual(['delete', 'get']);
    const post = doc.paths['/v1/freezes'].post;
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403']));
    expect(post.requestBody?.content['application/json'].schema).toMatchObject({ required: ['from', 'to', 'environments', 'reason'], additionalProperties: false });
    expect(Object.keys(doc.paths['/v1/freezes/{id}'].delete.responses)).toEqual(expect.arrayContaining(['200', '403', '404', '409']));
  });
});
