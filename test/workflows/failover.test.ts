// Disaster-recovery failovers end to end on a whole local Baton as `npm start` runs it: the
// Temporal dev server, moto seeded with the sandbox in two regions (api prod in us-east-1, its DR
// copy in us-west-2: ECS, an RDS primary with a cross-region read replica, Route 53 failover
// records), AWS through the region gate, one worker per region, the metrics feeder publishing
// ReplicaLag, and the API through app.inject(). The sandbox's config watches the DR region for
// 20 s after DNS moves. Every test leaves both regions as it found them (a failback or a drill
// brings them home), which the next test's preflight relies on.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import type { DrSpec } from '../../src/domain/failover';
import { servingColour } from '../../src/domain/failover-run';
import type { FailoverStatus } from '../../workflows/messages';
import { authed, errorOf, type ApiCaller } from '../harness/api';
import { historyFacts, scheduled } from '../harness/history';
import { startStack, type Stack } from '../harness/stack';
import { until, untilClosed } from '../harness/wait';
import { drPosture } from '../harness/dr';
import { motoClients } from '../harness/aws';

describe('DR failover, failback and drills (dev server, moto, two regions, two workers)', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let rosa: ApiCaller; // release manager and on call
  let remi: ApiCaller; // release manager and on call
  let spec: DrSpec;

  beforeAll(async () => {
    stack = await startStack({ regionWorkers: true, feeder: true });
    app = await buildApp({ client: stack.client, config: stack.config });
    rosa = authed(app, stack.people.releaseManager);
    remi = authed(app, stack.people.releaseManager2);
    spec = stack.config.services.api.dr.prod;
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const body = (mode: string, reason = `a ${mode} test`) => ({
    service: 'api',
    environment: 'prod',
    mode,
    reason,
    ...(mode === 'failback' ? { fromRegion: 'us-west-2', toRegion: 'us-east-1' } : { fromRegion: 'us-east-1', toRegion: 'us-west-2' }),
  });

  async function start(who: ApiCaller, mode: string): Promise<string> {
    const res = await who.post<{ id: string; status: FailoverStatus; links: Record<string, string> }>('/v1/failovers', body(mode));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.links.self).toBe(`/v1/failovers/${res.body.id}`);
    return res.body.id;
  }

  /** The run's status; an error answer (e.g. while a restarted worker picks the run up) is retried, never read as a status. */
  const status = async (id: string) => {
    const res = await rosa.get<FailoverStatus>(`/v1/failovers/${id}`);
    if (res.status !== 200) throw new Error(`GET /v1/failovers/${id}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const phaseIs = (id: string, phases: string[], timeoutMs = 240_000) => until(`failover ${id} in ${phases.join('/')}`, () => status(id), (s) => phases.includes(s.phase), timeoutMs);
  /** The run's outcome, once its workflow has closed too (its Slack thread flushed). */
  const ended = async (id: string) => {
    const s = await until(`failover ${id} ended`, () => status(id), (x) => x.outcome !== null, 300_000);
    await untilClosed(stack.client, id);
    return s;
  };

  const posture = () => drPosture(spec, stack.motoProviders, motoClients(stack.moto));

  it('runs a drill: over to us-west-2 and back, per-step durations, RTO and RPO 0, both regions as found', async () => {
    const before = await posture();
    expect(before.replica.replicates).toBe(spec.database.primary.instanceId);
    expect(before.dns).toEqual({ [spec.dns.primarySetIdentifier]: 'PRIMARY', [spec.dns.secondarySetIdentifier]: 'SECONDARY' });
    const id = await start(rosa, 'drill');
    const s = await ended(id);
    expect(s.outcome, s.error ?? '').toBe('succeeded');
    const names = s.report.steps.map((x) => x.name);
    expect(names.slice(0, 8)).toEqual(['preflight', 'fence', 'catch-up', 'promote', 'scale', 'smoke', 'dns', 'monitor']);
    expect(names).toEqual(expect.arrayContaining(['rebuild', 'rebuild-dr', 'clean-up']));
    for (const x of s.report.steps) {
      expect(x.outcome).toBe('ok');
      expect(x.durationSeconds).toBeGreaterThanOrEqual(0);
      expect(Date.parse(x.startedAt)).toBeGreaterThanOrEqual(Date.parse(s.startedAt));
    }
    expect(s.report).toMatchObject({ fenced: true, rpoSeconds: 0, rpoMet: true, rtoMet: true });
    expect(s.report.rtoSeconds).toBeGreaterThan(0);
    expect(s.report.cleanup).toEqual(expect.arrayContaining([expect.stringMatching(/^deleted api-prod-db-pre-/), expect.stringMatching(/^deleted api-prod-db-replica-pre-/), 'both regions as found (services, databases, DNS)']));
    expect(await posture()).toEqual(before);
  }, 420_000);

  it('fails over planned: approved, fenced, replica promoted at lag 0, DR scaled, DNS on DR read back, RTO and RPO 0; then fails back', async () => {
    const before = await posture();
    const id = await start(rosa, 'planned');
    await phaseIs(id, ['awaiting_approval']);
    // The requester may not approve their own failover.
    const own = await rosa.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' });
    expect(own.status).toBe(403);
    expect((await remi.post(`/v1/failovers/${id}/approvals`, { decision: 'approve', comment: 'go' })).status).toBe(200);
    await phaseIs(id, ['monitoring']);
    const during = await posture();
    expect(during.dns).toEqual({ [spec.dns.primarySetIdentifier]: 'SECONDARY', [spec.dns.secondarySetIdentifier]: 'PRIMARY' });
    expect(during.replica).toMatchObject({ status: 'available', replicates: null });
    expect(during.primary).toMatchObject({ readOnly: true });
    expect(during.primaryServices).toEqual({ blue: 0, green: 0 });
    expect(during.fencedTags.primary).toEqual(before.primaryServices);
    expect(Math.max(during.drServices.blue, during.drServices.green)).toBe(spec.productionCount);
    const s = await ended(id);
    expect(s.outcome, s.error ?? '').toBe('succeeded');
    expect(s.report).toMatchObject({ fenced: true, rpoSeconds: 0, rpoMet: true, rtoMet: true, confirmedBy: null });
    expect(s.report.rtoSeconds).toBeGreaterThan(0);
    expect(s.dnsSwitchedAt).not.toBeNull();
    expect(s.report.steps.find((x) => x.name === 'catch-up')?.detail).toMatch(/^ReplicaLag 0 at /);

    // Failback: approved, replication rebuilt home, the same fenced switch home, DR back to standby.
    const back = await start(rosa, 'failback');
    await phaseIs(back, ['awaiting_approval']);
    expect((await remi.post(`/v1/failovers/${back}/approvals`, { decision: 'approve' })).status).toBe(200);
    const b = await ended(back);
    expect(b.outcome, b.error ?? '').toBe('succeeded');
    expect(b.report).toMatchObject({ fenced: true, rpoSeconds: 0 });
    expect(b.report.cleanup.some((c) => /final snapshot/.test(c))).toBe(true);
    const after = await posture();
    expect(after).toEqual(before);
  }, 420_000);

  it('fails over in an emergency with us-east-1 out and its worker stopped, on the us-west-2 worker alone: unfenced, confirmed by a second on-call', async () => {
    const before = await posture();
    await stack.outage('us-east-1');
    try {
      expect(stack.workers.isRunning('us-east-1')).toBe(false);
      const id = await start(rosa, 'emergency');
      await phaseIs(id, ['awaiting_confirmation'], 180_000);
      let s = await status(id);
      expect(s.report.fenced).toBe(false);
      expect(s.pending[0]).toMatch(/a second person with role on-call/);
      // Who started it may not confirm it.
      const self = await rosa.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' });
      expect(self.status).toBe(403);
      expect(errorOf(self).message).toMatch(/a second person must confirm/);
      expect((await remi.post(`/v1/failovers/${id}/approvals`, { decision: 'approve', comment: 'us-east-1 is down, go' })).status).toBe(200);
      s = await ended(id);
      expect(s.outcome, s.error ?? '').toBe('succeeded');
      expect(s.report).toMatchObject({ fenced: false, confirmedBy: stack.config.people.find((p) => p.roles.includes('on-call') && !p.roles.includes('admin') && p.name !== s.requestedBy)?.name });
      expect(s.report.rpoSeconds).not.toBeNull();
      const during = await posture();
      expect(during.dns[spec.dns.secondarySetIdentifier]).toBe('PRIMARY');
      expect(during.replica.replicates).toBeNull();
      // Nothing ran in us-east-1: its queue's activities never started.
      const facts = await historyFacts(stack.client.workflow.getHandle(id));
      const east = new Set(scheduled(facts).filter((f) => f.taskQueue?.endsWith('-us-east-1')).map((f) => f.id));
      expect(east.size).toBeGreaterThan(0);
      expect(facts.filter((f) => f.type === 'ACTIVITY_TASK_STARTED' && east.has(f.scheduledEventId ?? -1))).toEqual([]);
    } finally {
      await stack.endOutage('us-east-1');
    }
    // Home again, once us-east-1 is back.
    const back = await start(rosa, 'failback');
    await phaseIs(back, ['awaiting_approval']);
    expect((await remi.post(`/v1/failovers/${back}/approvals`, { decision: 'approve' })).status).toBe(200);
    const b = await ended(back);
    expect(b.outcome, b.error ?? '').toBe('succeeded');
    expect(await posture()).toEqual(before);
  }, 420_000);

  it('stops a failover whose DR scale-up fails before DNS moves: DNS untouched, the DR state described, outcome failed, the primary serving again', async () => {
    const before = await posture();
    stack.gate!.failCalls('us-west-2', 'UpdateService');
    let id = '';
    try {
      id = await start(rosa, 'planned');
      await phaseIs(id, ['awaiting_approval']);
      expect((await remi.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' })).status).toBe(200);
      await until('the scale step failed', () => status(id), (s) => s.report.steps.some((x) => x.name === 'scale' && x.outcome === 'failed'), 240_000);
      expect((await posture()).dns).toEqual(before.dns);
    } finally {
      stack.gate!.passCalls('us-west-2', 'UpdateService');
    }
    const s = await ended(id);
    expect(s.outcome).toBe('failed');
    expect(s.dnsSwitchedAt).toBeNull();
    expect(s.error).toMatch(/UpdateService|scale/i);
    expect(s.report.state).toMatch(/DNS still answers us-east-1/);
    expect(s.report.state).toMatch(/api-prod-db-replica in us-west-2 is/);
    expect(s.report.cleanup).toEqual(expect.arrayContaining([expect.stringMatching(/^rebuilt api-prod-db-replica as a replica of api-prod-db/), expect.stringMatching(/^us-east-1 unfenced/)]));
    expect(await posture()).toEqual(before);
  }, 420_000);

  it('resumes a drill whose worker is killed mid-run without repeating a promotion or a DNS change', async () => {
    const before = await posture();
    for (const r of stack.workers.regions) await stack.workers.stop(r);
    const env = { BATON_REGIONS: stack.workers.regions.join(',') };
    let worker = await stack.spawnWorker(env);
    try {
      const id = await start(rosa, 'drill');
      await phaseIs(id, ['monitoring']);
      const exited = once(worker.child, 'exit');
      worker.child.kill('SIGKILL');
      await exited;
      worker = await stack.spawnWorker(env);
      const s = await ended(id);
      expect(s.outcome, s.error ?? '').toBe('succeeded');
      const facts = await historyFacts(stack.client.workflow.getHandle(id));
      // Over and back: one promotion and one DNS change each way, never two.
      expect(scheduled(facts, 'promoteReplica')).toHaveLength(2);
      expect(scheduled(facts, 'setDnsPrimary')).toHaveLength(2);
      expect(await posture()).toEqual(before);
    } finally {
      await worker.stop();
      for (const r of stack.workers.regions) await stack.workers.start(r);
    }
  }, 420_000);

  it('fails a planned failover whose DR colour breaches the analysis while monitored, leaving DNS on us-west-2; a failback brings both regions home', async () => {
    const before = await posture();
    // The colour the DR region serves from: the one prod runs. 20 % 5xx breaches prod's 1 % but passes the smoke test (under 50 %).
    const colour = servingColour(before.primaryServices);
    const fault = { service: 'api', environment: 'prod', colour };
    stack.faults.set({ ...fault, errorRate: 0.2 });
    let s: FailoverStatus;
    try {
      const id = await start(rosa, 'planned');
      await phaseIs(id, ['awaiting_approval']);
      expect((await remi.post(`/v1/failovers/${id}/approvals`, { decision: 'approve' })).status).toBe(200);
      s = await ended(id);
    } finally {
      stack.faults.clear(fault);
    }
    expect(s.outcome).toBe('failed');
    expect(s.error).toMatch(new RegExp(`^us-west-2 failed the analysis 2 times in a row after DNS moved \\(us-west-2 ${colour}: error rate [\\d.]+ % > 1 % over \\d+ requests\\); DNS stays on us-west-2$`));
    expect(s.report.steps.find((x) => x.name === 'smoke')).toMatchObject({ outcome: 'ok' });
    expect(s.report.steps.find((x) => x.name === 'monitor')).toMatchObject({ outcome: 'failed', detail: s.error });
    // The samples were taken in us-west-2 after DNS moved, and the last two failed on the error rate.
    expect(s.dnsSwitchedAt).not.toBeNull();
    expect(s.samples.length).toBeGreaterThanOrEqual(2);
    expect(s.samples.every((x) => Date.parse(x.at) >= Date.parse(s.dnsSwitchedAt!))).toBe(true);
    expect(s.samples.slice(-2).map((x) => [x.verdict, x.reason, x.message.startsWith(`us-west-2 ${colour}: `)])).toEqual([['fail', 'error_rate', true], ['fail', 'error_rate', true]]);
    expect(s.report.state).toMatch(/^DNS answers us-west-2 since \S+ and stays there; api-prod-db-replica in us-west-2 is available, promoted \(standalone\)/);
    expect(s.report.cleanup).toEqual([]);
    const during = await posture();
    expect(during.dns).toEqual({ [spec.dns.primarySetIdentifier]: 'SECONDARY', [spec.dns.secondarySetIdentifier]: 'PRIMARY' });
    expect(during.replica).toMatchObject({ status: 'available', replicates: null });
    expect(during.primaryServices).toEqual({ blue: 0, green: 0 });

    // The fault ended: a failback, monitored with prod's own metrics in us-east-1, brings both regions home.
    const back = await start(rosa, 'failback');
    await phaseIs(back, ['awaiting_approval']);
    expect((await remi.post(`/v1/failovers/${back}/approvals`, { decision: 'approve' })).status).toBe(200);
    const b = await ended(back);
    expect(b.outcome, b.error ?? '').toBe('succeeded');
    expect(b.report.steps.find((x) => x.name === 'monitor')?.detail).toMatch(/^\d+ samples passed \(analysis and smoke\)$/);
    expect(b.samples.every((x) => x.message.startsWith(`us-east-1 ${colour}`))).toBe(true);
    expect(await posture()).toEqual(before);
  }, 420_000);
});
