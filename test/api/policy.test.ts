// One policy for every path into an environment (issue 12): each way around the release
// controls that a review found, tried as it was found, now refused; and what is allowed
// (break-glass with a reason) recorded. On the real API, dev server, moto and worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { buildApp } from '../../src/api/app';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { newDecisionSecret, signDecision, decisionKeyPair } from '../../src/domain/signing';
import { deploymentActionUpdate, releaseCheckUpdate, type ReleaseStatus } from '../../workflows/messages';
import { errorOf, sandboxCallers, type ApiCaller } from '../harness/api';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

// Soaks of an hour: nothing moves unless the test acts.
const PLAN = { steps: [{ shift: 10 }, { soak: '1h' }, { shift: 100 }], analysis: { interval: '30m' } };

describe('one policy for every path', () => {
  let stack: Stack;
  let app: FastifyInstance;
  const decisionKey = newDecisionSecret();
  let as: ReturnType<typeof sandboxCallers>;

  beforeAll(async () => {
    stack = await startStack({ plan: PLAN });
    app = await buildApp({ client: stack.client, config: stack.config, decisionKey, registry: stack.registry });
    as = sandboxCallers(app, stack.people);
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const deployment = (id: string) => as.val.get<DeploymentStatus>(`/v1/deployments/${id}`).then((r) => r.body);
  const release = (id: string) => as.val.get<ReleaseStatus>(`/v1/releases/${id}`).then((r) => r.body);
  const rollBack = async (id: string) => {
    expect((await as.ada.post(`/v1/deployments/${id}/actions`, { action: 'rollback', reason: 'test over' })).status).toBe(200);
    await until(`${id} rolled back`, () => deployment(id), (s) => s.outcome !== null, 90_000);
  };
  /** What a raw Update to Temporal gets back: the validator's refusal message, or 'accepted'. */
  const raw = async (send: () => Promise<unknown>): Promise<string> => {
    try {
      await send();
      return 'accepted';
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return err.cause?.message ?? err.message;
      throw err;
    }
  };

  describe('direct deployments', () => {
    it('a deployer deploys to dev, but not to prod (403) nor into gated staging (403, naming the release path)', async () => {
      const prod = await as.dan.post('/v1/deployments', { service: 'web', environment: 'prod', version: '9.0.0' });
      expect(prod.status).toBe(403);
      expect(errorOf(prod).message).toMatch(/^dan \(deployer\) may not deploy to prod \(needs .*release-manager/);
      const staging = await as.dan.post('/v1/deployments', { service: 'web', environment: 'staging', version: '9.0.0' });
      expect(staging.status).toBe(403);
      expect(errorOf(staging).message).toMatch(/staging is gated for web: deploy through a release \(POST \/v1\/releases\)/);
      expect((await as.val.get('/v1/deployments/deploy:web:prod:9.0.0')).status).toBe(404);

      const dev = await as.dan.post<{ id: string }>('/v1/deployments', { service: 'web', environment: 'dev', version: '9.0.0' });
      expect(dev.status, JSON.stringify(dev.body)).toBe(201);
      await rollBack(dev.body.id);
    });

    it('break-glass needs the role and a reason; it is recorded on the run (timeline, search attribute)', async () => {
      const notHolder = await as.rosa.post('/v1/deployments', { service: 'api', environment: 'prod', version: '9.1.0', breakGlass: { reason: 'hotfix' } });
      expect(notHolder.status).toBe(403);
      expect(errorOf(notHolder).message).toMatch(/rosa may not break glass \(needs role 'break-glass'\)/);
      const noGlass = await as.ada.post('/v1/deployments', { service: 'api', environment: 'prod', version: '9.1.0' });
      expect(noGlass.status).toBe(403);
      const blank = await as.ada.post('/v1/deployments', { service: 'api', environment: 'prod', version: '9.1.0', breakGlass: { reason: '' } });
      expect(blank.status).toBe(400);

      const res = await as.ada.post<{ id: string }>('/v1/deployments', { service: 'api', environment: 'prod', version: '9.1.0', breakGlass: { reason: 'payments down, release path blocked' } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const id = res.body.id;
      const s = await until(`${id} to record break-glass`, () => deployment(id), (d) => d.timeline.some((e) => e.type === 'break_glass'), 60_000);
      expect(s.timeline.find((e) => e.type === 'break_glass')?.message).toBe("Break-glass by ada, around prod's gate: payments down, release path blocked");
      const described = await stack.client.workflow.getHandle(id).describe();
      expect(described.searchAttributes.BatonBreakGlass).toEqual(['ada']);

      // Acting on it follows the same scoping: a deployer may not touch prod, even to roll back;
      // a release manager may pause but not promote past the soak its gate guards.
      await until(`${id} soaking`, () => deployment(id), (d) => d.phase === 'soaking', 90_000);
      const danRollback = await as.dan.post(`/v1/deployments/${id}/actions`, { action: 'rollback', reason: 'mine' });
      expect(danRollback.status).toBe(403);
      const rosaPromote = await as.rosa.post(`/v1/deployments/${id}/actions`, { action: 'promote', reason: 'skip it' });
      expect(rosaPromote.status).toBe(403);
      expect(errorOf(rosaPromote).message).toMatch(/promoting skips prod's soaks, which its gate guards: it needs role 'break-glass'/);
      expect((await as.rosa.post(`/v1/deployments/${id}/actions`, { action: 'pause', reason: 'look first' })).status).toBe(200);
      const paused = await deployment(id);

      // Straight to Temporal, an operator action without the API's signature is refused.
      const handle = stack.client.workflow.getHandle(id);
      const forged = await raw(() => handle.executeUpdate(deploymentActionUpdate, { args: [{ action: 'promote', reason: 'forged', actor: 'ada' }] }));
      expect(forged).toMatch(/promote: the decision is not signed by Baton's API/);
      expect((await deployment(id)).weights).toEqual(paused.weights);
      await rollBack(id);
    });

    it('a freeze stops a direct deployment, and a break-glass one unless it allows break-glass', async () => {
      const from = new Date(Date.now() - 60_000).toISOString();
      const to = new Date(Date.now() + 3_600_000).toISOString();
      const freeze = await as.ada.post<{ id: string }>('/v1/freezes', { from, to, environments: ['dev', 'staging'], reason: 'game day' });
      expect(freeze.status, JSON.stringify(freeze.body)).toBe(201);
      try {
        const plain = await as.dan.post('/v1/deployments', { service: 'web', environment: 'dev', version: '9.2.0' });
        expect(plain.status).toBe(409);
        expect(errorOf(plain).message).toMatch(/^dev is frozen until .* \(freeze-\d+: game day\)$/);
        const glass = await as.ada.post('/v1/deployments', { service: 'web', environment: 'staging', version: '9.2.0', breakGlass: { reason: 'urgent' } });
        expect(glass.status).toBe(409);
        expect(errorOf(glass).message).toMatch(/this freeze does not allow break-glass/);
      } finally {
        expect((await as.ada.delete(`/v1/freezes/${freeze.body.id}`)).status).toBe(200);
      }
      const lenient = await as.ada.post<{ id: string }>('/v1/freezes', { from, to, environments: ['staging'], reason: 'soft freeze', allowBreakGlass: true });
      expect(lenient.status).toBe(201);
      try {
        const glass = await as.ada.post<{ id: string }>('/v1/deployments', { service: 'web', environment: 'staging', version: '9.2.1', breakGlass: { reason: 'urgent' } });
        expect(glass.status, JSON.stringify(glass.body)).toBe(201);
        await rollBack(glass.body.id);
      } finally {
        expect((await as.ada.delete(`/v1/freezes/${lenient.body.id}`)).status).toBe(200);
      }
    });
  });

  describe('releases', () => {
    const startRelease = async (who: ApiCaller, version: string): Promise<string> => {
      await stack.pushImage('api', version); // what CI would have pushed
      const res = await who.post<{ id: string }>('/v1/releases', { service: 'api', version });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    };

    it('checks are attested by who the check names, never self-attested by the requester', async () => {
      const id = await startRelease(as.dev, '9.3.0');
      const byDev = await as.dev.post(`/v1/releases/${id}/checks`, { name: 'ci', status: 'passed' });
      expect(byDev.status).toBe(403);
      expect(errorOf(byDev).message).toBe("dev may not attest 'ci' (attested by ci)");
      const byCi = await as.ci.post<ReleaseStatus>(`/v1/releases/${id}/checks`, { name: 'ci', status: 'passed' });
      expect(byCi.status, JSON.stringify(byCi.body)).toBe(200);
      expect(byCi.body.checks.map((c) => c.by)).toEqual(['ci']);

      // An admin may attest, but not on their own release a check a gate requires.
      const own = await startRelease(as.ada, '9.3.1');
      const self = await as.ada.post(`/v1/releases/${own}/checks`, { name: 'ci', status: 'passed' });
      expect(self.status).toBe(403);
      expect(errorOf(self).message).toBe("ada requested this release and may not attest 'ci', which a gate requires");
      expect((await release(own)).checks).toEqual([]);
      for (const r of [id, own]) expect((await as.ada.post(`/v1/releases/${r}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
    });

    it('only the requester, a release manager or an admin cancels a release', async () => {
      const id = await startRelease(as.dev, '9.4.0');
      const byQuinn = await as.quinn.post(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'not mine' });
      expect(byQuinn.status).toBe(403);
      expect(errorOf(byQuinn).message).toBe("quinn may not cancel dev's release (the requester, release-manager or admin may)");
      expect((await release(id)).outcome).toBeNull();
      const byRosa = await as.rosa.post<ReleaseStatus>(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'wrong build' });
      expect(byRosa.status).toBe(200);
    });

    it('a decision sent straight to Temporal is refused unless the API signed it, for this run, once', async () => {
      // Checks are taken at any time before the release ends (here: while dev soaks).
      const id = await startRelease(as.dev, '9.5.0');
      const handle = stack.client.workflow.getHandle(id);
      const check = { name: 'ci', status: 'passed' as const, url: null, by: 'ci' };

      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [check] }))).toMatch(/not signed by Baton's API/);
      const otherKey = decisionKeyPair(newDecisionSecret()).secret;
      const wrongKey = signDecision(otherKey, id, 'check', check, Date.now());
      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [wrongKey] }))).toMatch(/signature does not verify/);
      const { secret } = decisionKeyPair(decisionKey);
      const otherRun = signDecision(secret, 'release:api:1.0.0', 'check', check, Date.now());
      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [otherRun] }))).toMatch(/signature does not verify/);
      const signed = signDecision(secret, id, 'check', check, Date.now());
      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [{ ...signed, by: 'rosa' }] }))).toMatch(/signature does not verify/);
      // A person the release does not know, even with a valid signature.
      const stranger = signDecision(secret, id, 'check', { ...check, by: 'mallory' }, Date.now());
      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [stranger] }))).toMatch(/mallory is not among the people this release knows/);
      expect((await release(id)).checks).toEqual([]);

      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [signed] }))).toBe('accepted');
      expect(await raw(() => handle.executeUpdate(releaseCheckUpdate, { args: [signed] }))).toMatch(/used already/);
      expect((await release(id)).checks.map((c) => c.by)).toEqual(['ci']);
      expect((await as.dev.post(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
    });
  });
});
