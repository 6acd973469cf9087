// Database restores end to end on a whole local Baton: the Temporal dev server, moto seeded with
// the sandbox (the `api` services that use the database, the example RDS instance), a private
// PostgreSQL with WAL archiving holding the sandbox's `orders` databases, a real worker, and the
// API through app.inject(). The restore's waits are short here (watch 2 s, retention 2 s); the
// production-length ones run on the time-skipping server (restore-calendar.test.ts).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Client as PgClient } from 'pg';
import { buildApp } from '../../src/api/app';
import type { PostgresTarget } from '../../src/domain/database';
import { regionQueue } from '../../src/domain/regions';
import { backupDirName } from '../../src/providers/postgres';
import { syncDrillSchedules, drillScheduleId } from '../../src/temporal/drills';
import type { RestoreStatus } from '../../workflows/messages';
import { authed, errorOf, type ApiCaller } from '../harness/api';
import { historyFacts, scheduled } from '../harness/history';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

interface Listing {
  backups: Array<{ id: string; kind: string; consistentAt: string; manifest: Record<string, { rows: number; checksum: string | null }> | null }>;
  pointInTime: { earliest: string; latest: string } | null;
  runs: Array<{ id: string; mode: string; outcome: string }>;
  lastDrill: { id: string; outcome: string } | null;
  lastDrillAgeSeconds: number | null;
  drillFlags: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('database restores on a real worker, PostgreSQL and moto', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let admin: ApiCaller;
  let rm: ApiCaller;
  let rm2: ApiCaller;
  let viewer: ApiCaller;
  let deployer: ApiCaller;

  beforeAll(async () => {
    stack = await startStack({ databases: { watch: '2s', sample: '1s', retention: '2s' } });
    app = await buildApp({ client: stack.client, config: stack.config });
    admin = authed(app, stack.people.admin);
    rm = authed(app, stack.people.releaseManager);
    rm2 = authed(app, stack.people.releaseManager2);
    viewer = authed(app, stack.people.viewer);
    deployer = authed(app, stack.people.deployer);
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const target = (env: string) => stack.config.databases.orders[env].target as PostgresTarget;

  async function sql<T extends Record<string, unknown>>(env: string, text: string, database?: string): Promise<T[]> {
    const t = target(env);
    const c = new PgClient({ host: t.host, port: t.port, user: t.user, database: database ?? t.database });
    await c.connect();
    try {
      return (await c.query<T>(text)).rows;
    } finally {
      await c.end();
    }
  }

  const amounts = async (env: string, database?: string): Promise<number[]> =>
    (await sql<{ a: number }>(env, 'SELECT amount_cents AS a FROM orders WHERE amount_cents IN (111, 222, 333) ORDER BY 1', database)).map((r) => r.a);
  const count = async (env: string, table: string): Promise<number> => Number((await sql<{ n: string }>(env, `SELECT count(*) AS n FROM ${table}`))[0].n);
  const databases = async (env: string): Promise<string[]> =>
    (await sql<{ d: string }>(env, `SELECT datname AS d FROM pg_database WHERE datname LIKE '${target(env).database}%' ORDER BY 1`, 'postgres')).map((r) => r.d);
  const capacity = async (env: string) => {
    const compute = stack.config.databases.orders[env].services[0].compute;
    const [blue, green] = await Promise.all([stack.providers.compute.describe(compute, 'blue'), stack.providers.compute.describe(compute, 'green')]);
    return { blue: blue.desiredCount, green: green.desiredCount };
  };

  async function backup(env: string, kind?: string): Promise<Listing['backups'][number]> {
    const started = await admin.post<{ id: string }>('/v1/backups', { environment: env, database: 'orders', ...(kind ? { kind } : {}) });
    expect(started.status).toBe(201);
    const done = await until(`backup ${started.body.id}`, async () => (await viewer.get<{ state: string }>(`/v1/backups/${started.body.id}`)).body, (b) => b.state !== 'running', 120_000);
    expect(done).toMatchObject({ state: 'available', id: started.body.id, verified: { ok: true } });
    return done as unknown as Listing['backups'][number];
  }

  const listing = async (env: string, database = 'orders'): Promise<Listing> => {
    const res = await viewer.get<Listing>(`/v1/backups?environment=${env}&database=${database}`);
    expect(res.status).toBe(200);
    return res.body;
  };

  const status = async (id: string): Promise<RestoreStatus> => {
    const res = await viewer.get<RestoreStatus>(`/v1/restores/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const ended = (id: string, timeoutMs = 180_000) => until(`${id} to end`, () => status(id), (s) => s.outcome !== null, timeoutMs);
  const inPhase = (id: string, phases: string[]) => until(`${id} in ${phases.join('/')}`, () => status(id), (s) => phases.includes(s.phase) || s.outcome !== null, 120_000);

  /** Each activity type a run scheduled → the task queues it was scheduled on. */
  async function queuesOf(id: string): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const f of scheduled(await historyFacts(stack.client.workflow.getHandle(id)))) {
      const queues = (out[f.activityType!] ??= []);
      if (!queues.includes(f.taskQueue!)) queues.push(f.taskQueue!);
    }
    return out;
  }

  /** Waits until the log reaches `iso` (archive_timeout is a few seconds), then restores to it. */
  async function restoreTo(caller: ApiCaller, env: string, body: Record<string, unknown>): Promise<string> {
    const full = { environment: env, database: 'orders', reason: 'testing', ...body };
    await until('the log to reach the target', () => admin.post('/v1/restores/plan', full), (r) => r.status === 200, 60_000);
    const res = await caller.post<{ id: string; status: RestoreStatus; links: { self: string } }>('/v1/restores', full);
    expect(res.status).toBe(201);
    expect(res.body.links.self).toBe(`/v1/restores/${res.body.id}`);
    return res.body.id;
  }

  it('restores to a point in time between two writes: exactly that moment\'s data is back, the services were quiesced and resumed, the RPO is measured', async () => {
    const env = 'staging';
    const before = await capacity(env);
    const rows = await count(env, 'orders');
    await sql(env, 'INSERT INTO orders (customer_id, amount_cents) VALUES (1, 111), (2, 111)');
    const taken = await backup(env);
    expect(taken.manifest?.orders.rows).toBe(rows + 2);
    await sql(env, 'INSERT INTO orders (customer_id, amount_cents) VALUES (3, 222), (4, 222)');
    const [{ at: lastGoodCommit }] = await sql<{ at: Date }>(env, 'SELECT now() AS at');
    await sleep(1500);
    const between = new Date().toISOString();
    await sleep(1500);
    await sql(env, 'INSERT INTO orders (customer_id, amount_cents) VALUES (5, 333)');
    // The incident: someone deletes orders and drops a table.
    expect((await admin.post('/v1/sandbox/faults', { environment: env, database: 'orders', damage: 'delete-rows' })).status).toBe(200);
    expect((await admin.post('/v1/sandbox/faults', { environment: env, database: 'orders', damage: 'drop-table', table: 'customers' })).status).toBe(200);
    expect(await count(env, 'orders')).toBeLessThan(rows + 5);

    // The range reaches an instant once the log holding it is archived (archive_timeout: a few seconds).
    const plan = await until('the log to reach the instant', () => admin.post<Record<string, unknown>>('/v1/restores/plan', { environment: env, database: 'orders', target: { pointInTime: between }, reason: 'preview' }), (r) => r.status === 200, 60_000);
    expect(plan.body).toMatchObject({ backup: { id: taken.id }, pointInTime: between, replay: { from: taken.consistentAt, to: between }, services: ['api'] });

    const id = await restoreTo(rm, env, { target: { pointInTime: between }, incidentAt: between, reason: 'orders deleted by a bad migration' });
    const s = await ended(id);
    expect(s).toMatchObject({ outcome: 'succeeded', phase: 'completed', switchedAt: expect.any(String), switchedBackAt: null, setAside: { dropped: true } });
    expect(s.verification.map((v) => [v.kind, v.ok])).toEqual(expect.arrayContaining([['backup', true], ['amcheck', true], ['assertion', true]]));
    expect(s.verification.every((v) => v.ok)).toBe(true);
    // Exactly the data of that moment: the first two writes, not the third, every row deleted since back, the dropped table back.
    expect(await amounts(env)).toEqual([111, 111, 222, 222]);
    expect(await count(env, 'orders')).toBe(rows + 4);
    expect(await count(env, 'customers')).toBe(20);
    // Quiesced, then resumed to the counts they had.
    const types = s.timeline.map((e) => e.type);
    expect(types.indexOf('quiesced')).toBeLessThan(types.indexOf('restored'));
    expect(types.indexOf('switched')).toBeLessThan(types.indexOf('resumed'));
    expect(s.services).toEqual([{ service: 'api', capacity: before, smoke: expect.stringMatching(/^passed/) }]);
    expect(await capacity(env)).toEqual(before);
    // RPO: the incident minus the last commit the restored data holds (the second write).
    expect(Math.abs(Date.parse(s.copy!.lastCommitAt!) - lastGoodCommit.getTime())).toBeLessThan(1000);
    expect(s.rpoSeconds).toBe(Math.round((Date.parse(between) - Date.parse(s.copy!.lastCommitAt!)) / 1000));
    expect(s).toMatchObject({ rpoMet: true, rtoMet: true, rtoSeconds: expect.any(Number) });
    // Nothing left behind: neither the copy nor the set-aside original.
    expect(await databases(env)).toEqual([target(env).database]);
    const after = await listing(env);
    expect(after.runs.map((r) => [r.id, r.mode, r.outcome])).toContainEqual([id, 'restore', 'succeeded']);
    // The services' ECS calls ran on their region's queue; PostgreSQL (no region) and the ledger on the main queue.
    const east = regionQueue(stack.taskQueue, 'us-east-1');
    expect(await queuesOf(id)).toMatchObject({
      readCapacity: [east], scaleService: [east], waitForStable: [east], smokeTest: [east], measure: [east],
      planRestore: [stack.taskQueue], restoreDatabase: [stack.taskQueue], switchDatabase: [stack.taskQueue], recordDatabaseRun: [stack.taskQueue],
    });
  }, 300_000);

  it('stops before the switch when verification fails (a manifest checksum): the original untouched, the services resumed, the reason given', async () => {
    const env = 'dev';
    const before = await capacity(env);
    const taken = await backup(env, 'logical');
    // The backup's manifest no longer matches what it holds (bit rot, tampering).
    const file = join(target(env).backupDir, backupDirName(taken.id), 'backup.json');
    const info = JSON.parse(readFileSync(file, 'utf8'));
    info.manifest.orders.checksum = '0'.repeat(32);
    writeFileSync(file, JSON.stringify(info));
    await sql(env, 'INSERT INTO orders (customer_id, amount_cents) VALUES (1, 333)');

    const id = await restoreTo(admin, env, { target: { backup: taken.id } });
    const s = await ended(id);
    expect(s).toMatchObject({ outcome: 'failed', phase: 'failed', switchedAt: null, error: expect.stringMatching(/^verification failed: .*orders/) });
    expect(s.verification.find((v) => v.kind === 'manifest')).toMatchObject({ ok: false, detail: expect.stringContaining('orders') });
    expect(s.cleanup).toEqual(expect.arrayContaining([expect.stringMatching(/^dropped the restored copy/), 'resumed the services on the original']));
    expect(await amounts(env)).toContain(333); // the original, as it was
    expect(await databases(env)).toEqual([target(env).database]);
    expect(await capacity(env)).toEqual(before);
  }, 300_000);

  it('switches back when the services fail their smoke test on the restored database', async () => {
    const env = 'dev';
    const before = await capacity(env);
    await sql(env, "INSERT INTO orders (customer_id, amount_cents) VALUES (9, 444)");
    await backup(env);
    for (const colour of ['blue', 'green'] as const) stack.faults.set({ service: 'api', environment: env, colour, errorRate: 1 });
    try {
      const id = await restoreTo(admin, env, { target: { latest: true } });
      const s = await ended(id);
      expect(s).toMatchObject({ outcome: 'rolled_back', phase: 'rolled_back', switchedAt: expect.any(String), switchedBackAt: expect.any(String), error: expect.stringContaining('smoke test of api') });
      expect(s.cleanup).toEqual(expect.arrayContaining(['switched orders back to the original']));
    } finally {
      for (const colour of ['blue', 'green'] as const) stack.faults.clear({ service: 'api', environment: env, colour });
    }
    expect((await sql<{ n: string }>(env, 'SELECT count(*) AS n FROM orders WHERE amount_cents = 444'))[0].n).toBe('1');
    expect(await databases(env)).toEqual([target(env).database]);
    expect(await capacity(env)).toEqual(before);
  }, 300_000);

  it('compensates when cancelled mid-restore: the copy dropped, the services resumed, the original untouched', async () => {
    const env = 'dev';
    const before = await capacity(env);
    const id = await restoreTo(admin, env, { target: { latest: true } });
    await inPhase(id, ['restoring', 'verifying']);
    const cancelled = await admin.post<RestoreStatus>(`/v1/restores/${id}/actions`, { action: 'cancel', reason: 'wrong database' });
    expect(cancelled.status).toBe(200);
    const s = await ended(id);
    expect(s).toMatchObject({ outcome: 'cancelled', switchedAt: null, error: 'cancelled by ada: wrong database' });
    expect(await databases(env)).toEqual([target(env).database]);
    expect(await capacity(env)).toEqual(before);
    expect((await admin.post(`/v1/restores/${id}/actions`, { action: 'cancel', reason: 'again' })).status).toBe(409);
  }, 300_000);

  it('resumes after its worker is killed mid-restore and restores once', async () => {
    const env = 'staging';
    await stack.stopWorker();
    const child = await stack.spawnWorker();
    let id: string;
    try {
      id = await restoreTo(admin, env, { target: { latest: true } });
      await inPhase(id, ['restoring']);
      child.child.kill('SIGKILL');
    } finally {
      await child.stop();
    }
    await stack.startWorker();
    const s = await ended(id, 240_000);
    expect(s.outcome).toBe('succeeded');
    expect(s.timeline.filter((e) => e.type === 'restored')).toHaveLength(1);
    expect(await databases(env)).toEqual([target(env).database]);
    expect(await count(env, 'customers')).toBe(20);
  }, 360_000);

  it('asks prod for a release manager\'s approval, and stops changing nothing when the approved plan no longer holds', async () => {
    const env = 'prod';
    const before = await capacity(env);
    const taken = await backup(env, 'logical');
    const id = await restoreTo(rm, env, { target: { backup: taken.id } });
    const waiting = await inPhase(id, ['awaiting_approval']);
    expect(waiting.pending).toEqual(['waiting for 1 more release-manager approval']);
    const own = await rm.post(`/v1/restores/${id}/approvals`, { decision: 'approve' });
    expect(own.status).toBe(403);
    expect(errorOf(own).message).toMatch(/requested this restore and may not approve it/);
    expect((await viewer.post(`/v1/restores/${id}/approvals`, { decision: 'approve' })).status).toBe(403);
    // The backup disappears between the plan and the approval.
    const dir = join(target(env).backupDir, backupDirName(taken.id));
    expect(existsSync(join(dir, 'backup.json'))).toBe(true);
    rmSync(dir, { recursive: true });
    expect((await rm2.post(`/v1/restores/${id}/approvals`, { decision: 'approve', comment: 'go' })).status).toBe(200);
    const s = await ended(id);
    expect(s).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/^the approved plan no longer holds/), switchedAt: null, copy: null });
    expect(s.timeline.map((e) => e.type)).not.toContain('quiesced');
    expect(await capacity(env)).toEqual(before);
  }, 300_000);

  it('restores the RDS instance in moto from the latest point, renaming it into place', async () => {
    const started = await rm.post<{ id: string }>('/v1/restores', { environment: 'prod', database: 'billing', target: { latest: true }, reason: 'drill by hand' });
    expect(started.status).toBe(201);
    await inPhase(started.body.id, ['awaiting_approval']);
    expect((await rm2.post(`/v1/restores/${started.body.id}/approvals`, { decision: 'approve' })).status).toBe(200);
    const s = await ended(started.body.id);
    expect(s).toMatchObject({ outcome: 'succeeded', setAside: { name: expect.stringMatching(/^billing-prod-pre-restore-\d{12}$/), dropped: true } });
    expect(s.verification).toEqual([expect.objectContaining({ kind: 'backup', ok: true }), expect.objectContaining({ kind: 'available', ok: true })]);
    // Every RDS call ran on the instance's region's queue; only the ledger on the main queue.
    const east = regionQueue(stack.taskQueue, 'us-east-1');
    const queues = await queuesOf(started.body.id);
    expect(queues).toMatchObject({ planRestore: [east], restoreDatabase: [east], switchDatabase: [east], dropSetAside: [east], recordDatabaseRun: [stack.taskQueue] });
    expect(Object.entries(queues).filter(([type, q]) => type !== 'recordDatabaseRun' && type !== 'postMessage' && type !== 'updateMessage' && q.join() !== east)).toEqual([]);
  }, 300_000);

  it('runs a drill from its schedule: restores into a scratch copy, verifies, never switches, cleans up, and records it', async () => {
    const ids = await syncDrillSchedules(stack.client, stack.config);
    expect(ids).toEqual([drillScheduleId('orders', 'dev'), drillScheduleId('orders', 'staging'), drillScheduleId('orders', 'prod')]);
    const schedule = stack.client.schedule.getHandle(drillScheduleId('orders', 'dev'));
    try {
      await schedule.trigger();
      const runId = await until('the drill to start', async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId ?? null, (v) => v !== null, 30_000);
      const s = await ended(runId!);
      expect(s).toMatchObject({ mode: 'drill', outcome: 'succeeded', switchedAt: null, resumedAt: null, services: [] });
      expect(s.cleanup).toEqual([expect.stringMatching(/^dropped the drill copy/)]);
      expect(s.verification.every((v) => v.ok)).toBe(true);
      expect(await databases('dev')).toEqual([target('dev').database]);
      const l = await listing('dev');
      expect(l.lastDrill).toMatchObject({ id: runId, outcome: 'succeeded' });
      expect(l.drillFlags).toEqual([]);
      expect(l.lastDrillAgeSeconds).toBeLessThan(60);
    } finally {
      for (const id of ids) await stack.client.schedule.getHandle(id).delete();
    }
  }, 300_000);

  describe('refusals change nothing', () => {
    it('answers a target no backup reaches with a 400 naming the reachable range', async () => {
      const res = await admin.post('/v1/restores/plan', { environment: 'dev', database: 'orders', target: { pointInTime: '2001-01-01T00:00:00Z' }, reason: 'x' });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ field: 'target', message: expect.stringMatching(/^target: pointInTime 2001-01-01T00:00:00.000Z cannot be reached: reachable: .+ to .+/) });
      expect((await admin.post('/v1/restores', { environment: 'dev', database: 'orders', target: { pointInTime: '2001-01-01T00:00:00Z' }, reason: 'x' })).status).toBe(400);
    });

    it.each([
      [{ database: 'nope' }, 'database', /^database: unknown database 'nope' \(known: orders, billing\)/],
      [{ environment: 'qa' }, 'environment', /^environment: database 'orders' has no environment 'qa'/],
      [{ target: { pointInTime: '2026-11-29 10:00' } }, 'target.pointInTime', /is not an ISO instant with a zone/],
      [{ incidentAt: 'yesterday' }, 'incidentAt', /^incidentAt: 'yesterday' is not/],
    ])('refuses bad input %j with a 400 naming the field', async (change, field, message) => {
      const res = await admin.post('/v1/restores', { environment: 'dev', database: 'orders', target: { latest: true }, reason: 'x', ...change });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'bad_request', field, message: expect.stringMatching(message) });
    });

    it('refuses a body the schema does not allow, and callers without the restore permission', async () => {
      expect((await admin.post('/v1/restores', { environment: 'dev', database: 'orders', target: { latest: true, backup: 'x' }, reason: 'x' })).status).toBe(400);
      expect((await admin.post('/v1/restores', { environment: 'dev', database: 'orders', target: { latest: true } })).status).toBe(400);
      expect((await deployer.post('/v1/restores', { environment: 'dev', database: 'orders', target: { latest: true }, reason: 'x' })).status).toBe(403);
      expect((await viewer.post('/v1/backups', { environment: 'dev', database: 'orders' })).status).toBe(403);
      expect((await admin.post('/v1/backups', { environment: 'prod', database: 'billing', kind: 'base' })).status).toBe(400);
      expect((await viewer.get('/v1/restores/restore:orders:dev:20000101T000000Z')).status).toBe(404);
      expect((await viewer.get('/v1/restores/nonsense')).status).toBe(404);
      expect((await viewer.get('/v1/backups/backup:orders:dev:20000101T000000Z')).status).toBe(404);
    });

    it('refuses a second restore of the same database while one runs (409 with its id)', async () => {
      const first = await restoreTo(admin, 'dev', { target: { latest: true } });
      const second = await admin.post('/v1/restores', { environment: 'dev', database: 'orders', target: { latest: true }, reason: 'x' });
      expect(second.status).toBe(409);
      expect(errorOf(second)).toMatchObject({ runningId: first });
      await admin.post(`/v1/restores/${first}/actions`, { action: 'cancel', reason: 'done testing' });
      await ended(first);
    }, 120_000);
  });
});
