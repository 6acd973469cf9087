// Deployments through the API on a whole local Baton (Temporal dev server, moto seeded with
// the sandbox, the sandbox control server, a real worker). The plan soaks for an hour and
// samples every 30 minutes, so nothing moves unless the test acts: no races with the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import type { DeploymentStatus } from '../../src/domain/deployment';
import type { Weights } from '../../src/domain/types';
import { authed, errorOf, type Answer, type ApiCaller } from '../harness/api';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

const PLAN = { steps: [{ shift: 10 }, { soak: '1h' }, { shift: 100 }], analysis: { interval: '30m' } };

interface Started {
  id: string;
  status: DeploymentStatus;
  links: { self: string; actions: string; temporalUi?: string };
}

describe('API: deployments on a real worker', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let deployer: ApiCaller;
  let viewer: ApiCaller;
  let admin: ApiCaller;

  beforeAll(async () => {
    stack = await startStack({ plan: PLAN });
    app = await buildApp({ client: stack.client, config: stack.config });
    deployer = authed(app, stack.people.deployer);
    viewer = authed(app, stack.people.viewer);
    admin = authed(app, stack.people.admin);
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const status = async (id: string): Promise<DeploymentStatus> => {
    const res = await viewer.get<DeploymentStatus>(`/v1/deployments/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  };

  const waitFor = (id: string, what: string, ok: (s: DeploymentStatus) => boolean, timeoutMs = 90_000): Promise<DeploymentStatus> =>
    until(`${id} to be ${what}`, () => status(id), ok, timeoutMs);

  const act = (id: string, body: Record<string, unknown>) =>
    deployer.post<DeploymentStatus>(`/v1/deployments/${id}/actions`, { reason: 'testing', ...body });

  const routerWeights = (service: string, environment: string): Promise<Weights> =>
    stack.providers.routerFor(stack.config.services[service].environments[environment].traffic).getWeights();

  /** What an action must leave untouched when it is refused. */
  const unchanged = (s: DeploymentStatus) => ({ phase: s.phase, paused: s.paused, weights: s.weights, events: s.timeline.length });

  describe('one deployment of web to dev, acted on step by step', () => {
    let id: string;
    let soaking: DeploymentStatus;

    it('starts exactly one of two simultaneous deployments; the other gets 409 with the running id', async () => {
      const [a, b] = await Promise.all([
        deployer.post<Started>('/v1/deployments', { service: 'web', environment: 'dev', version: '2.0.0' }),
        deployer.post<Started>('/v1/deployments', { service: 'web', environment: 'dev', version: '2.0.1' }),
      ]);
      const answers: Answer<unknown>[] = [a, b];
      const won = answers.filter((r) => r.status === 201) as Answer<Started>[];
      const lost = answers.filter((r) => r.status === 409);
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const started = won[0].body;
      id = started.id;
      expect(id).toMatch(/^deploy:web:dev:2\.0\.[01]$/);
      expect(errorOf(lost[0])).toEqual({ code: 'conflict', message: expect.stringMatching(/web is already deploying to dev/), runningId: id });

      expect(started.links).toEqual({ self: `/v1/deployments/${id}`, actions: `/v1/deployments/${id}/actions` });
      expect(won[0].headers.location).toBe(started.links.self);
      expect(started.status).toMatchObject({ id, kind: 'deployment', service: 'web', environment: 'dev', requestedBy: 'dan', outcome: null });
    });

    it('shows the deployment soaking at 10 % on the new colour', async () => {
      soaking = await waitFor(id, 'soaking', (s) => s.phase === 'soaking');
      expect(soaking.liveColour).toBe('blue');
      expect(soaking.targetColour).toBe('green');
      expect(soaking.weights).toEqual({ blue: 90, green: 10 });
      expect(soaking.soak).toMatchObject({ kind: 'soak', durationSeconds: 3600, paused: false });
      expect(await routerWeights('web', 'dev')).toEqual({ blue: 90, green: 10 });
    });

    it('lets a viewer read it, but not act on it', async () => {
      const res = await viewer.post(`/v1/deployments/${id}/actions`, { action: 'pause', reason: 'curious' });
      expect(res.status).toBe(403);
    });

    it('pauses; a second pause is a 409 that changes nothing', async () => {
      const paused = await act(id, { action: 'pause', reason: 'looking at dashboards' });
      expect(paused.status).toBe(200);
      expect(paused.body).toMatchObject({ phase: 'paused', paused: true, soak: { paused: true } });
      expect(paused.body.timeline.at(-1)?.message).toMatch(/Paused by dan \(looking at dashboards\)/);

      const before = await status(id);
      const again = await act(id, { action: 'pause' });
      expect(again.status).toBe(409);
      expect(errorOf(again)).toEqual({ code: 'conflict', message: expect.stringMatching(/already paused/), action: 'pause' });
      const after = await status(id);
      expect(unchanged(after)).toEqual(unchanged(before));
      expect(after.soak?.remainingSeconds).toBe(before.soak?.remainingSeconds); // the clock is stopped
    });

    it('resumes; resuming when not paused is a 409', async () => {
      const resumed = await act(id, { action: 'resume' });
      expect(resumed.status).toBe(200);
      expect(resumed.body).toMatchObject({ phase: 'soaking', paused: false, soak: { paused: false } });
      const before = await status(id);
      const again = await act(id, { action: 'resume' });
      expect(again.status).toBe(409);
      expect(errorOf(again).message).toMatch(/not paused/);
      expect(unchanged(await status(id))).toEqual(unchanged(before));
    });

    it('extends the soak by 60 s', async () => {
      const before = await status(id);
      const extended = await act(id, { action: 'extend', seconds: 60 });
      expect(extended.status).toBe(200);
      const added = extended.body.soak!.remainingSeconds - before.soak!.remainingSeconds;
      expect(added).toBeGreaterThanOrEqual(57); // less whatever passed between the two reads
      expect(added).toBeLessThanOrEqual(60);
      expect(extended.body.timeline.at(-1)?.type).toBe('extended');
    });

    it('promotes: the soak ends and 100 % of traffic moves to the new colour', async () => {
      const promoted = await act(id, { action: 'promote', reason: 'metrics look fine' });
      expect(promoted.status).toBe(200);
      const kept = await waitFor(id, 'fully shifted', (s) => s.phase === 'keeping_previous');
      expect(kept.weights).toEqual({ blue: 0, green: 100 });
      expect(kept.soak).toMatchObject({ kind: 'keep_previous' });
      expect(await routerWeights('web', 'dev')).toEqual({ blue: 0, green: 100 });
    });

    it('rolls back on request: outcome rolled_back, traffic back on the live colour', async () => {
      const res = await act(id, { action: 'rollback', reason: 'customer reports' });
      expect(res.status).toBe(200);
      const done = await waitFor(id, 'rolled back', (s) => s.outcome !== null);
      expect(done).toMatchObject({ phase: 'rolled_back', outcome: 'rolled_back', weights: { blue: 100, green: 0 } });
      expect(done.rollback).toMatchObject({ requestedBy: 'dan', reason: expect.stringMatching(/customer reports/) });
      expect(await routerWeights('web', 'dev')).toEqual({ blue: 100, green: 0 });
    });

    it('refuses every action once the deployment has ended', async () => {
      const before = await status(id);
      for (const body of [{ action: 'pause' }, { action: 'resume' }, { action: 'promote' }, { action: 'extend', seconds: 60 }, { action: 'rollback' }]) {
        const res = await act(id, body);
        expect(res.status, body.action).toBe(409);
        expect(errorOf(res).message).toMatch(/ended/);
      }
      expect(unchanged(await status(id))).toEqual(unchanged(before));
    });

    it('frees the lane once the deployment has ended, and links to the Temporal UI when configured', async () => {
      await stack.client.workflow.getHandle('lane:web:dev').result().catch(() => undefined); // the lane closes after its deployment
      const config = { ...stack.config, api: { ...stack.config.api, temporalUiUrl: 'http://127.0.0.1:8233' } };
      const withUi = await buildApp({ client: stack.client, config });
      try {
        const next = await authed(withUi, stack.people.admin).post<Started>('/v1/deployments', { service: 'web', environment: 'dev', version: '2.1.0' });
        expect(next.status, JSON.stringify(next.body)).toBe(201);
        expect(next.body.status.requestedBy).toBe('ada');
        expect(next.body.links.temporalUi).toBe('http://127.0.0.1:8233/namespaces/default/workflows/deploy%3Aweb%3Adev%3A2.1.0');
        expect((await act(next.body.id, { action: 'rollback', reason: 'clean up' })).status).toBe(200);
        await waitFor(next.body.id, 'rolled back', (s) => s.outcome === 'rolled_back');
      } finally {
        await withUi.close();
      }
    });
  });

  describe('a deployment paused before its first soak', () => {
    it('has nothing to promote (409, nothing changes), and rolls back cleanly', async () => {
      const started = await deployer.post<Started>('/v1/deployments', { service: 'api', environment: 'dev', version: '3.0.0' });
      expect(started.status).toBe(201);
      const id = started.body.id;
      const paused = await act(id, { action: 'pause', reason: 'hold before traffic' });
      expect(paused.status).toBe(200);
      expect(paused.body.soak).toBeNull(); // paused before the soak began

      const held = await waitFor(id, 'held at the first step', (s) => s.phase === 'paused');
      const promote = await act(id, { action: 'promote' });
      expect(promote.status).toBe(409);
      expect(errorOf(promote)).toEqual({ code: 'conflict', message: expect.stringMatching(/nothing to promote/), action: 'promote' });
      expect(unchanged(await status(id))).toEqual(unchanged(held));

      const rollback = await act(id, { action: 'rollback', reason: 'not today' });
      expect(rollback.status).toBe(200);
      const done = await waitFor(id, 'rolled back', (s) => s.outcome !== null);
      expect(done.outcome).toBe('rolled_back');
      expect(done.weights).toEqual({ blue: 100, green: 0 });
      expect(await routerWeights('api', 'dev')).toEqual({ blue: 100, green: 0 });
    });
  });

  describe('the sandbox routes against the real control server', () => {
    const fault = { service: 'web', environment: 'dev', colour: 'green', errorRate: 0.2, latencyMs: 50 };

    it('injects, lists and heals a fault', async () => {
      const set = await deployer.post<{ faults: unknown[] }>('/v1/sandbox/faults', fault);
      expect(set).toMatchObject({ status: 200, body: { faults: [fault] } });
      expect(stack.faults.get('web', 'dev', 'green')).toMatchObject({ errorRate: 0.2 });
      expect(await viewer.get('/v1/sandbox/faults')).toMatchObject({ status: 200, body: { faults: [fault] } });
      const healed = await deployer.delete('/v1/sandbox/faults', { service: 'web', environment: 'dev', colour: 'green' });
      expect(healed).toMatchObject({ status: 200, body: { faults: [] } });
    });

    it('lists the example people and their tokens to an admin', async () => {
      const res = await admin.get<Array<{ name: string; roles: string[]; token: string }>>('/v1/sandbox/people');
      expect(res.status).toBe(200);
      expect(res.body.map((p) => p.token).sort()).toEqual(Object.values(stack.people).sort());
      expect((await deployer.get('/v1/sandbox/people')).status).toBe(403);
    });
  });
});
