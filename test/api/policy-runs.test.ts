// One policy for restores and failovers too (issue 12): their decisions are signed by the API
// and judged by the people the run fixed when it started, who may cancel is the requester, a
// cancel role or an admin, and who may decide is judged before the run's state. Each refusal
// tried as a caller would: through the API, and straight to Temporal with the client. On the
// real API, dev server, moto (the example RDS instance, the DR posture) and worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { buildApp } from '../../src/api/app';
import { decisionKeyPair, newDecisionSecret, signDecision } from '../../src/domain/signing';
import {
  failoverApprovalUpdate,
  failoverCancelUpdate,
  restoreApprovalUpdate,
  restoreCancelUpdate,
  type ApprovalInput,
  type FailoverDecisionInput,
  type FailoverStatus,
  type RestoreStatus,
} from '../../workflows/messages';
import { errorOf, sandboxCallers } from '../harness/api';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

describe('one policy for restores and failovers', () => {
  let stack: Stack;
  let app: FastifyInstance;
  const decisionKey = newDecisionSecret();
  const { secret } = decisionKeyPair(decisionKey);
  const otherSecret = decisionKeyPair(newDecisionSecret()).secret;
  let as: ReturnType<typeof sandboxCallers>;

  beforeAll(async () => {
    // A restore keeps the original aside for an hour: long enough to act on a run that waits for nothing.
    stack = await startStack({ databases: { retention: '1h' } });
    app = await buildApp({ client: stack.client, config: stack.config, decisionKey });
    as = sandboxCallers(app, stack.people);
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

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
  /** A decision signed as the API would sign it (or with another key), for Update `update` of run `id`. */
  const signed = <T extends object>(id: string, update: string, input: T, key = secret) => signDecision(key, id, update, input, Date.now());

  describe('restores', () => {
    const restore = (id: string) => as.val.get<RestoreStatus>(`/v1/restores/${id}`).then((r) => r.body);

    it('takes only signed decisions, once each, by the people it knows with the roles it knows; cancels by the requester, a cancel role or an admin', async () => {
      const started = await as.rosa.post<{ id: string }>('/v1/restores', { environment: 'prod', database: 'billing', target: { latest: true }, reason: 'bad migration' });
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      const id = started.body.id;
      await until(`${id} awaiting approval`, () => restore(id), (s) => s.phase === 'awaiting_approval' || s.outcome !== null, 120_000);
      const handle: WorkflowHandle = stack.client.workflow.getHandle(id);
      const approve = (by: string, roles: string[] = ['release-manager']): ApprovalInput => ({ environment: 'prod', decision: 'approve', comment: null, by, roles });
      const send = (input: ApprovalInput) => raw(() => handle.executeUpdate(restoreApprovalUpdate, { args: [input] }));

      // Forged approvals, straight to Temporal.
      expect(await send(approve('remi'))).toMatch(/^the decision is not signed by Baton's API/);
      expect(await send(signed(id, 'approval', approve('remi'), otherSecret))).toMatch(/signature does not verify/);
      expect(await send({ ...signed(id, 'approval', approve('remi')), by: 'quinn' })).toMatch(/signature does not verify/);
      expect(await send(signed(id, 'approval', approve('mallory')))).toBe('mallory is not among the people this restore knows (fixed when it started)');
      // The roles are the run's, not the Update's: the admin holds no role the rules name.
      expect(await send(signed(id, 'approval', approve('ada')))).toBe('ada (roles admin, break-glass) may not decide on this restore: it needs role release-manager');
      expect((await restore(id)).approvals).toEqual([]);

      // Cancelling someone else's restore: only the requester, a release manager or an admin.
      for (const who of [as.quinn, as.dan]) {
        const res = await who.post(`/v1/restores/${id}/actions`, { action: 'cancel', reason: 'not mine' });
        expect(res.status).toBe(403);
        expect(errorOf(res).message).toMatch(/^(quinn|dan) may not cancel rosa's restore \(the requester, release-manager or admin may\)$/);
      }
      expect(await raw(() => handle.executeUpdate(restoreCancelUpdate, { args: [{ reason: 'forged', by: 'rosa' }] }))).toMatch(/not signed by Baton's API/);
      expect(await raw(() => handle.executeUpdate(restoreCancelUpdate, { args: [signed(id, 'cancel', { reason: 'not mine', by: 'quinn' })] }))).toMatch(/quinn is not among the people this restore knows/);
      expect((await restore(id)).outcome).toBeNull();

      // A signed approval counts once; the same signature again is a replayed copy.
      const byRemi = signed(id, 'approval', { ...approve('remi'), comment: 'go' });
      expect(await send(byRemi)).toBe('accepted');
      expect(await send(byRemi)).toBe('this signed decision was used already (a replayed copy)');
      expect((await restore(id)).approvals.map((a) => [a.by, a.roles])).toEqual([['remi', ['release-manager', 'on-call']]]);

      // Once it no longer waits for approval: who may never decide hears 403, not "not waiting".
      const retaining = await until(`${id} retaining`, () => restore(id), (s) => s.phase === 'retaining' || s.outcome !== null, 240_000);
      expect(retaining).toMatchObject({ phase: 'retaining', outcome: null });
      expect(await send(signed(id, 'approval', approve('ada')))).toMatch(/^ada \(roles admin, break-glass\) may not decide on this restore/);
      const byVal = await as.val.post(`/v1/restores/${id}/approvals`, { decision: 'reject' });
      expect(byVal.status).toBe(403);
      expect(errorOf(byVal).message).toBe('val (roles viewer) may not decide on this restore: it needs role release-manager');
      const byAda = await as.ada.post(`/v1/restores/${id}/approvals`, { decision: 'approve' });
      expect(byAda.status).toBe(403);
      const again = await as.remi.post(`/v1/restores/${id}/approvals`, { decision: 'approve' });
      expect(again.status).toBe(409);
      expect(errorOf(again).message).toBe('this restore is not waiting for approval (phase retaining)');
      const byQuinn = await as.quinn.post(`/v1/restores/${id}/actions`, { action: 'cancel', reason: 'not mine' });
      expect(byQuinn.status).toBe(403);

      // The requester may cancel their own: during retention that ends the retention (the restore holds).
      expect((await as.rosa.post(`/v1/restores/${id}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
      const ended = await until(`${id} to end`, () => restore(id), (s) => s.outcome !== null, 240_000);
      expect(ended.outcome).toBe('succeeded');
      expect(ended.timeline.find((e) => e.type === 'retention_ended')?.message).toMatch(/^Retention ended early by rosa/);
    }, 600_000);
  });

  describe('failovers', () => {
    const failover = (id: string) => as.val.get<FailoverStatus>(`/v1/failovers/${id}`).then((r) => r.body);
    const planned = { service: 'api', environment: 'prod', fromRegion: 'us-east-1', toRegion: 'us-west-2', mode: 'planned', reason: 'region maintenance' };

    it('takes only signed decisions by the people it knows with the roles it knows; cancels by the requester, a cancel role or an admin', async () => {
      const started = await as.rosa.post<{ id: string }>('/v1/failovers', planned);
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      const id = started.body.id;
      await until(`${id} awaiting approval`, () => failover(id), (s) => s.phase === 'awaiting_approval' || s.outcome !== null, 120_000);
      const handle: WorkflowHandle = stack.client.workflow.getHandle(id);
      const approve = (by: string, roles: string[] = ['release-manager']): FailoverDecisionInput => ({ decision: 'approve', comment: null, by, roles });
      const send = (input: FailoverDecisionInput) => raw(() => handle.executeUpdate(failoverApprovalUpdate, { args: [input] }));

      expect(await send(approve('remi'))).toMatch(/^the decision is not signed by Baton's API/);
      expect(await send(signed(id, 'approval', approve('remi'), otherSecret))).toMatch(/signature does not verify/);
      // Signed for the same Update of another run: refused too.
      expect(await send(signed('failover:api:prod:planned-20000101T000000Z', 'approval', approve('remi')))).toMatch(/signature does not verify/);
      expect(await send(signed(id, 'approval', approve('val')))).toBe('val is not among the people this failover knows (fixed when it started)');
      expect(await send(signed(id, 'approval', approve('ada')))).toBe('ada (roles admin, break-glass) may not decide on this failover: it needs role release-manager');
      expect((await failover(id)).approvals).toEqual([]);

      const byVal = await as.val.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' });
      expect(byVal.status).toBe(403);
      expect(errorOf(byVal).message).toBe('val (roles viewer) may not decide on this failover: it needs role release-manager or on-call');

      for (const who of [as.quinn, as.dan]) {
        const res = await who.post(`/v1/failovers/${id}/actions`, { action: 'cancel', reason: 'not mine' });
        expect(res.status).toBe(403);
        expect(errorOf(res).message).toMatch(/^(quinn|dan) may not cancel rosa's failover \(the requester, release-manager or admin may\)$/);
      }
      expect(await raw(() => handle.executeUpdate(failoverCancelUpdate, { args: [{ reason: 'forged', by: 'rosa' }] }))).toMatch(/not signed by Baton's API/);
      expect(await raw(() => handle.executeUpdate(failoverCancelUpdate, { args: [signed(id, 'cancel', { reason: 'not mine', by: 'quinn' })] }))).toMatch(/quinn is not among the people this failover knows/);
      expect(await failover(id)).toMatchObject({ phase: 'awaiting_approval', outcome: null });

      expect((await as.rosa.post(`/v1/failovers/${id}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
      const ended = await until(`${id} to end`, () => failover(id), (s) => s.outcome !== null, 120_000);
      expect(ended.outcome).toBe('cancelled');

      // Ended, it waits for nobody: who may never decide still hears 403; an approver hears 409.
      expect((await as.val.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' })).status).toBe(403);
      expect((await as.quinn.post(`/v1/failovers/${id}/actions`, { action: 'cancel', reason: 'late' })).status).toBe(403);
      expect((await as.remi.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' })).status).toBe(409);
    }, 300_000);
  });
});
