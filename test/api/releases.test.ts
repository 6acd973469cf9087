// Releases through the API on a whole local Baton (Temporal dev server, moto seeded with the
// sandbox, the metrics feeder, a real worker). The sandbox's people and rules: `web` needs check
// `ci` and one qa approval for staging; `ci`, `security-scan`, two release managers, 30 s of
// stability in staging and the Tuesday train for prod. Deployments use a seconds-long plan.
// A second app runs with a variant of the same config (the workflow takes its rules from the
// API's input), for a gate that expires in seconds and a deployment that soaks for an hour.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../src/api/app';
import { resolveConfig, type BatonConfig } from '../../src/config';
import type { DeploymentStatus } from '../../src/domain/deployment';
import type { Weights } from '../../src/domain/types';
import type { ReleaseStatus, StageStatus } from '../../workflows/messages';
import { authed, errorOf, type Answer, type ApiCaller } from '../harness/api';
import { startStack, type Stack } from '../harness/stack';
import { unchanged } from '../harness/fixtures';
import { until } from '../harness/wait';

const PLAN = {
  steps: [{ shift: 50 }, { soak: '2s' }, { shift: 100 }],
  analysis: { interval: '1s', window: '3s' },
  keepPreviousFor: '1s',
  standbyFor: '1s',
};

interface Started {
  id: string;
  status: ReleaseStatus;
  links: { self: string; checks: string; approvals: string; actions: string; temporalUi?: string };
}

interface ConfigDoc {
  plans: Record<string, unknown>;
  services: Record<string, { environments: Record<string, Record<string, unknown>>; gates?: Record<string, unknown> }>;
  hotfix?: unknown;
}

/**
 * The stack's config, varied: web soaks for an hour in dev (time to cancel mid-deployment), api
 * has a gate before dev that expires after 3 s, and there is no hotfix role.
 */
function variantConfig(stack: Stack): BatonConfig {
  const doc = parseYaml(readFileSync(stack.configFile, 'utf8')) as ConfigDoc;
  doc.plans.slow = { steps: [{ shift: 50 }, { soak: '1h' }, { shift: 100 }], analysis: { interval: '30m' } };
  doc.services.web.environments.dev.plan = 'slow';
  doc.services.api.gates = { ...doc.services.api.gates, dev: { approvals: [{ role: 'qa', count: 1 }], expiry: '3s' } };
  delete doc.hotfix;
  return resolveConfig(doc);
}

const stage = (s: ReleaseStatus, environment: string): StageStatus => {
  const found = s.environments.find((e) => e.environment === environment);
  if (!found) throw new Error(`${s.id} has no environment ${environment}`);
  return found;
};
const gate = (s: ReleaseStatus, environment: string) => {
  const g = stage(s, environment).gate;
  if (!g) throw new Error(`${s.id} has no gate before ${environment}`);
  return g;
};
const liveIn = (environment: string) => (s: ReleaseStatus) => stage(s, environment).deployment?.outcome === 'succeeded';

describe('API: releases on a real worker', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let variant: FastifyInstance;
  let as: Record<'admin' | 'rosa' | 'remi' | 'quinn' | 'pia' | 'dev' | 'dan' | 'val' | 'ci', ApiCaller>;
  let variantAs: typeof as;

  beforeAll(async () => {
    stack = await startStack({ plan: PLAN, feeder: true });
    app = await buildApp({ client: stack.client, config: stack.config, registry: stack.registry });
    variant = await buildApp({ client: stack.client, config: variantConfig(stack), registry: stack.registry });
    // What CI would have pushed: releases resolve their tag in ECR when they start.
    for (const [service, version] of [['web', '2.0.0'], ['web', '2.3.0'], ['api', '3.0.0'], ['api', 'race-1'], ['api', 'exp-1']]) await stack.pushImage(service, version);
    const p = stack.people;
    const callers = (a: FastifyInstance): typeof as => ({
      admin: authed(a, p.admin),
      rosa: authed(a, p.releaseManager),
      remi: authed(a, p.releaseManager2),
      quinn: authed(a, p.qa),
      pia: authed(a, p.product),
      dev: authed(a, p.developer),
      dan: authed(a, p.deployer),
      val: authed(a, p.viewer),
      ci: authed(a, p.ci),
    });
    as = callers(app);
    variantAs = callers(variant);
  }, 300_000);

  afterAll(async () => {
    await variant?.close();
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const status = async (id: string): Promise<ReleaseStatus> => {
    const res = await as.val.get<ReleaseStatus>(`/v1/releases/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  };

  const waitFor = (id: string, what: string, ok: (s: ReleaseStatus) => boolean, timeoutMs = 90_000): Promise<ReleaseStatus> =>
    until(`${id} to be ${what}`, () => status(id), ok, timeoutMs);

  const start = async (who: ApiCaller, body: Record<string, unknown>): Promise<Started> => {
    const res = await who.post<Started>('/v1/releases', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const approve = (who: ApiCaller, id: string, environment: string, comment?: string) =>
    who.post<ReleaseStatus>(`/v1/releases/${id}/approvals`, { environment, decision: 'approve', ...(comment ? { comment } : {}) });
  const check = (who: ApiCaller, id: string, body: Record<string, unknown>) => who.post<ReleaseStatus>(`/v1/releases/${id}/checks`, body);

  /** Asserts a refusal's status and message, and that the release is as it was before. */
  async function refused(id: string, send: () => Promise<Answer>, code: number, message: RegExp): Promise<void> {
    const before = await status(id);
    const res = await send();
    expect(res.status, JSON.stringify(res.body)).toBe(code);
    expect(errorOf(res)).toMatchObject({ code: code === 403 ? 'forbidden' : 'conflict', message: expect.stringMatching(message) });
    expect(unchanged(await status(id))).toEqual(unchanged(before));
  }

  const routerWeights = (service: string, environment: string): Promise<Weights> =>
    stack.providers.routerFor(stack.config.services[service].environments[environment].traffic).getWeights();

  describe('web 2.0.0, requested by the developer, through the runbook gates', () => {
    const id = 'release:web:2.0.0';

    it('starts (201), deploys dev at once, and opens the staging gate asking for ci and one qa approval', async () => {
      const res = await as.dev.post<Started>('/v1/releases', { service: 'web', version: '2.0.0' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.id).toBe(id);
      expect(res.body.links).toEqual({
        self: `/v1/releases/${id}`,
        checks: `/v1/releases/${id}/checks`,
        approvals: `/v1/releases/${id}/approvals`,
        actions: `/v1/releases/${id}/actions`,
      });
      expect(res.headers.location).toBe(res.body.links.self);
      expect(res.body.status).toMatchObject({ id, kind: 'release', service: 'web', version: '2.0.0', hotfix: false, requestedBy: 'dev', outcome: null, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
      expect(res.body.status.environments.map((e) => e.environment)).toEqual(['dev', 'staging', 'prod']);
      expect(stage(res.body.status, 'dev').gate).toBeNull();

      const live = await waitFor(id, 'live in dev', liveIn('dev'));
      expect(stage(live, 'dev').deployment).toMatchObject({ id: 'deploy:web:dev:2.0.0', outcome: 'succeeded' });
      const open = await waitFor(id, 'at the staging gate', (s) => gate(s, 'staging').state === 'open');
      expect(open).toMatchObject({ phase: 'gate_open', environment: 'staging', outcome: null });
      expect(gate(open, 'staging').pending).toEqual(["waiting for check 'ci'", 'waiting for 1 more qa approval']);
      expect(gate(open, 'staging').checks).toEqual([{ name: 'ci', status: 'missing', url: null, at: null }]);
      expect(stage(open, 'staging').deployment).toBeNull();
    });

    it('refuses an approval of staging by the developer (no qa role) with 403, changing nothing', async () => {
      await refused(id, () => approve(as.dev, id, 'staging'), 403, /^dev \(roles developer\) may not decide on gate 'staging': it needs role qa$/);
    });

    it('refuses an approval of prod while the staging gate is open with 409, changing nothing', async () => {
      await refused(id, () => approve(as.rosa, id, 'prod'), 409, /gate 'prod' is not open \(state waiting\)/);
    });

    it('deploys staging once ci passed and qa approved; the prod gate waits out 30 s of stability in staging, then asks for security-scan, two release managers and the train', async () => {
      const url = 'https://ci.example.com/web/2.0.0';
      const checked = await check(as.ci, id, { name: 'ci', status: 'passed', url });
      expect(checked.status, JSON.stringify(checked.body)).toBe(200);
      expect(checked.body.checks).toEqual([{ name: 'ci', status: 'passed', url, by: 'ci', at: expect.any(String) }]);
      expect(gate(checked.body, 'staging').pending).toEqual(['waiting for 1 more qa approval']);

      const approved = await approve(as.quinn, id, 'staging', 'exploratory testing done');
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      expect(gate(approved.body, 'staging').approvals).toEqual([
        { environment: 'staging', decision: 'approve', by: 'quinn', roles: ['qa'], comment: 'exploratory testing done', at: expect.any(String) },
      ]);

      const live = await waitFor(id, 'live in staging', liveIn('staging'));
      expect(stage(live, 'staging').deployment).toMatchObject({ id: 'deploy:web:staging:2.0.0', outcome: 'succeeded' });
      // The prod gate opens (and its expiry starts) once web has been live in staging for 30 s.
      expect(gate(live, 'prod')).toMatchObject({
        state: 'waiting',
        openedAt: null,
        pending: [expect.stringMatching(/^waiting for \d+s of stability in staging; the gate opens then$/)],
      });
      const atProd = await waitFor(id, 'at the prod gate', (s) => gate(s, 'prod').state === 'open');
      expect(Date.parse(gate(atProd, 'prod').openedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(stage(live, 'staging').deployment?.liveAt ?? '') + 30_000);
      expect(atProd).toMatchObject({ phase: 'gate_open', environment: 'prod', outcome: null });
      const prod = gate(atProd, 'prod');
      expect(prod.checks).toEqual([
        { name: 'ci', status: 'passed', url, at: expect.any(String) },
        { name: 'security-scan', status: 'missing', url: null, at: null },
      ]);
      expect(prod.pending).toEqual([
        "waiting for check 'security-scan'",
        'waiting for 2 more release-manager approvals',
        expect.stringMatching(/^next train Tue 10:00 P[SD]T \(Tue \d{4}-\d\d-\d\d 1[78]:00 UTC\)$/),
      ]);
      expect(prod.train).toMatchObject({ environment: 'prod', nextDepartureLocal: expect.stringMatching(/^Tue 10:00 P[SD]T$/) });
      const departure = new Date(prod.train?.nextDeparture ?? NaN);
      expect(departure.getUTCDay()).toBe(2);
      expect([17, 18]).toContain(departure.getUTCHours());
      expect(departure.getTime()).toBeGreaterThan(Date.now());
    });

    it('counts each person once: a second approval of prod by the same release manager is 409, changing nothing', async () => {
      const first = await approve(as.rosa, id, 'prod', 'change reviewed');
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(gate(first.body, 'prod').approvals).toEqual([
        { environment: 'prod', decision: 'approve', by: 'rosa', roles: ['release-manager', 'on-call'], comment: 'change reviewed', at: expect.any(String) },
      ]);
      expect(gate(first.body, 'prod').pending).toContain('waiting for 1 more release-manager approval');

      await refused(id, () => approve(as.rosa, id, 'prod'), 409, /^rosa already approved gate 'prod' at .*; each person decides once$/);
    });
  });

  describe('api 3.0.0, requested by a release manager', () => {
    const id = 'release:api:3.0.0';

    it('blocks the staging gate on a failed check until a newer passing one arrives', async () => {
      await start(as.rosa, { service: 'api', version: '3.0.0' });
      await waitFor(id, 'at the staging gate', (s) => liveIn('dev')(s) && gate(s, 'staging').state === 'open');

      const url = 'https://ci.example.com/api/3.0.0/1';
      const failed = await check(as.ci, id, { name: 'ci', status: 'failed', url });
      expect(failed.status, JSON.stringify(failed.body)).toBe(200);
      expect(gate(failed.body, 'staging').pending).toEqual([`check 'ci' failed (${url}); waiting for a newer passing run`]);

      await new Promise((r) => setTimeout(r, 2000));
      const still = await status(id);
      expect(still).toMatchObject({ phase: 'gate_open', environment: 'staging' });
      expect(gate(still, 'staging').state).toBe('open');
      expect(stage(still, 'staging').deployment).toBeNull();

      const passed = await check(as.ci, id, { name: 'ci', status: 'passed', url: 'https://ci.example.com/api/3.0.0/2' });
      expect(passed.status).toBe(200);
      const live = await waitFor(id, 'live in staging', liveIn('staging'));
      expect(live.checks.map((c) => c.status)).toEqual(['failed', 'passed']);
      await waitFor(id, 'at the prod gate', (s) => gate(s, 'prod').state === 'open');
    });

    it('refuses the requester approving their own release with 403, changing nothing', async () => {
      await refused(id, () => approve(as.rosa, id, 'prod'), 403, /^rosa requested this release and may not approve it$/);
    });

    it('ends the release on a rejection, with the rejecter and their comment', async () => {
      const res = await as.remi.post<ReleaseStatus>(`/v1/releases/${id}/approvals`, { environment: 'prod', decision: 'reject', comment: 'error budget spent' });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const ended = await waitFor(id, 'rejected', (s) => s.outcome !== null);
      expect(ended).toMatchObject({ outcome: 'rejected', phase: 'rejected', environment: null, endedAt: expect.any(String) });
      expect(ended.reason).toMatch(/rejected for prod by remi: error budget spent/);
      expect(gate(ended, 'prod').approvals).toEqual([
        { environment: 'prod', decision: 'reject', by: 'remi', roles: ['release-manager', 'on-call'], comment: 'error budget spent', at: expect.any(String) },
      ]);
      expect(stage(ended, 'prod').deployment).toBeNull();
      expect(gate(ended, 'prod')).toMatchObject({ state: 'rejected', pending: [] });

      await refused(id, () => approve(as.rosa, id, 'prod'), 409, /the release has ended \(rejected\)/);
    });
  });

  describe('cancel', () => {
    it('cancels mid-deployment: outcome cancelled, the deployment rolled back, traffic on the old colour', async () => {
      const before = await routerWeights('web', 'dev');
      const id = 'release:web:2.3.0';
      await start(variantAs.dev, { service: 'web', version: '2.3.0' });
      const deploymentId = 'deploy:web:dev:2.3.0';
      const deadline = Date.now() + 60_000;
      for (;;) {
        const d = await as.val.get<DeploymentStatus>(`/v1/deployments/${deploymentId}`);
        if (d.status === 200 && d.body.phase === 'soaking') break;
        if (Date.now() > deadline) throw new Error(`${deploymentId} not soaking: ${JSON.stringify(d.body)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(await routerWeights('web', 'dev')).toEqual({ blue: 50, green: 50 });
      expect((await status(id)).phase).toBe('deploying');

      const res = await as.dev.post<ReleaseStatus>(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'wrong build' });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const ended = await waitFor(id, 'cancelled', (s) => s.outcome !== null);
      expect(ended).toMatchObject({ outcome: 'cancelled', phase: 'cancelled', reason: 'cancelled by dev: wrong build' });
      expect(await routerWeights('web', 'dev')).toEqual(before);
      expect(stage(ended, 'dev').deployment).toMatchObject({ id: deploymentId, outcome: 'cancelled' });
      const deployment = await as.val.get<DeploymentStatus>(`/v1/deployments/${deploymentId}`);
      expect(deployment.body.outcome).not.toBe('succeeded');
      expect(deployment.body.outcome).not.toBeNull();
      expect(deployment.body.weights).toEqual(before);

      await refused(id, () => as.dev.post(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'again' }), 409, /the release has ended \(cancelled\)/);
    });
  });

  describe('starts and expiry (a gate before dev that expires after 3 s)', () => {
    it('starts exactly one of two simultaneous starts of the same release; the other gets 409 with its id', async () => {
      const id = 'release:api:race-1';
      const answers: Answer<unknown>[] = await Promise.all([
        variantAs.dev.post('/v1/releases', { service: 'api', version: 'race-1' }),
        variantAs.rosa.post('/v1/releases', { service: 'api', version: 'race-1' }),
      ]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      const lost = answers.find((a) => a.status === 409) as Answer;
      expect(errorOf(lost)).toEqual({ code: 'conflict', message: expect.stringMatching(/api race-1 is already being released/), runningId: id });
    });

    it('starts an ended release again', async () => {
      const id = 'release:api:race-1';
      const first = await waitFor(id, 'expired', (s) => s.outcome !== null);
      expect(first.outcome).toBe('expired');
      const again = await start(variantAs.dev, { service: 'api', version: 'race-1' });
      expect(again.status).toMatchObject({ id, outcome: null, requestedBy: 'dev' });
      expect(Date.parse(again.status.startedAt)).toBeGreaterThan(Date.parse(first.startedAt));
    });

    it('ends the release as expired when the gate is not satisfied in time, and refuses a decision after that with 409', async () => {
      const id = 'release:api:exp-1';
      const started = await start(variantAs.dev, { service: 'api', version: 'exp-1' });
      expect(gate(started.status, 'dev')).toMatchObject({ state: 'open', pending: ['waiting for 1 more qa approval'] });
      const ended = await waitFor(id, 'expired', (s) => s.outcome !== null, 30_000);
      expect(ended).toMatchObject({ outcome: 'expired', phase: 'expired' });
      expect(ended.reason).toMatch(/the gate to dev was not satisfied within 3s/);
      expect(stage(ended, 'dev').deployment).toBeNull();

      await refused(id, () => approve(variantAs.quinn, id, 'dev'), 409, /the release has ended \(expired\)/);
    });
  });

  describe('who may, and bad input', () => {
    it('refuses a viewer or a deployer starting a release with 403', async () => {
      for (const [who, name] of [[as.val, 'val \\(viewer\\)'], [as.dan, 'dan \\(deployer\\)']] as const) {
        const res = await who.post('/v1/releases', { service: 'web', version: '9.0.0' });
        expect(res.status).toBe(403);
        expect(errorOf(res)).toEqual({ code: 'forbidden', message: expect.stringMatching(new RegExp(`^${name} may not start releases`)) });
      }
      expect((await as.val.get('/v1/releases/release:web:9.0.0')).status).toBe(404);
    });

    it('refuses a viewer posting checks or cancelling with 403', async () => {
      const id = 'release:web:2.0.0';
      expect((await check(as.val, id, { name: 'ci', status: 'passed' })).status).toBe(403);
      expect((await as.val.post(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'no' })).status).toBe(403);
    });

    it('answers 400 naming the field for bad input', async () => {
      const cases: Array<[ApiCaller, string, unknown, string, RegExp]> = [
        [as.dev, '/v1/releases', { service: 'nope', version: '1.0.0' }, 'service', /^service: unknown service 'nope' \(known: /],
        [as.dev, '/v1/releases', { service: 'web', version: 'bad:tag' }, 'version', /^version: /],
        [as.dev, '/v1/releases', { service: 'web' }, 'version', /must have required property 'version'/],
        [as.dev, '/v1/releases', { service: 'web', version: '1.0.0', colour: 'blue' }, 'colour', /unknown property 'colour'/],
        [as.dev, '/v1/releases', { service: 'web', version: '1.0.0', hotfix: 'yes' }, 'hotfix', /^hotfix: /],
        [variantAs.dev, '/v1/releases', { service: 'web', version: '1.0.0', hotfix: true }, 'hotfix', /^hotfix: .*no hotfix/],
        [as.dev, '/v1/releases/release:web:2.0.0/checks', { name: 'ci', status: 'green' }, 'status', /^status: must be one of passed, failed$/],
        [as.dev, '/v1/releases/release:web:2.0.0/checks', { name: 'CI!', status: 'passed' }, 'name', /^name: /],
        [as.quinn, '/v1/releases/release:web:2.0.0/approvals', { environment: 'prod', decision: 'maybe' }, 'decision', /^decision: must be one of approve, reject$/],
        [as.dev, '/v1/releases/release:web:2.0.0/actions', { action: 'pause', reason: 'x' }, 'action', /^action: must be one of cancel$/],
        [as.dev, '/v1/releases/release:web:2.0.0/actions', { action: 'cancel' }, 'reason', /must have required property 'reason'/],
      ];
      const before = await status('release:web:2.0.0');
      for (const [who, url, body, field, message] of cases) {
        const res = await who.post(url, body);
        expect(res.status, `${url} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(errorOf(res)).toEqual({ code: 'bad_request', message: expect.stringMatching(message), field });
      }
      expect(unchanged(await status('release:web:2.0.0'))).toEqual(unchanged(before));
    });

    it('answers 404 for an unknown release', async () => {
      for (const res of [
        await as.val.get('/v1/releases/release:web:9.9.9'),
        await as.val.get('/v1/releases/not-a-release'),
        await as.quinn.post('/v1/releases/release:web:9.9.9/approvals', { environment: 'staging', decision: 'approve' }),
        await as.dev.post('/v1/releases/release:web:9.9.9/checks', { name: 'ci', status: 'passed' }),
        await as.dev.post('/v1/releases/release:web:9.9.9/actions', { action: 'cancel', reason: 'x' }),
      ]) {
        expect(res.status).toBe(404);
        expect(errorOf(res)).toEqual({ code: 'not_found', message: expect.stringMatching(/^no release '/) });
      }
    });

    it('describes the release routes in /openapi.json', async () => {
      const res = await as.val.get<{ paths: Record<string, Record<string, unknown>> }>('/openapi.json');
      expect(res.status).toBe(200);
      for (const [path, method] of [
        ['/v1/releases', 'post'],
        ['/v1/releases/{id}', 'get'],
        ['/v1/releases/{id}/checks', 'post'],
        ['/v1/releases/{id}/approvals', 'post'],
        ['/v1/releases/{id}/actions', 'post'],
      ]) {
        expect(res.body.paths[path]?.[method], `${method} ${path}`).toBeDefined();
      }
    });
  });
});
