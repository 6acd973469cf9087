// Database restores at production length on Temporal's time-skipping server: a 72 h approval
// expiry, a 10-minute watch sampled every minute, a week's retention of the original. Real
// PostgreSQL (the sandbox's, in a folder of this file's own) holds orders_prod; moto holds the
// `api` services that use it; the workflow is started directly (the API is tested on the dev
// server in restore.test.ts). Each test's worker polls a task queue of its own and runs without a
// Temporal client: the database's ledger is a long-lived workflow on the worker's queue, which a
// later test's worker could not answer (the time-skipping server has no visibility listing to
// find it and no worker on the old queue), so runs are not recorded here.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WithStartWorkflowOperation, type WorkflowHandle } from '@temporalio/client';
import type { Duration, UpdateDefinition } from '@temporalio/common';
import { Client as PgClient } from 'pg';
import type { BackupInfo, PostgresTarget } from '../../src/domain/database';
import { restoreId, type DatabaseSpec, type RestoreTarget } from '../../src/domain/restore';
import type { Measurement } from '../../src/domain/types';
import { defaultPgOsUser, findPgBinDir, type LocalPostgres } from '../../src/local/postgres';
import type { DatabaseProvider } from '../../src/providers/database';
import { createDatabases } from '../../src/providers/factory';
import { createPostgresDatabases } from '../../src/providers/postgres';
import type { MetricsProvider } from '../../src/providers/types';
import { pgDatabaseName, startSandboxPostgres } from '../../src/sandbox/databases';
import { restoreApprovalUpdate, restoreCancelUpdate, restoreStatusQuery, type RestoreInput, type RestoreStatus } from '../../workflows/messages';
import { historyFacts, replayAll, scheduled } from '../harness/history';
import { useTimeSkippingSandbox } from '../harness/time-skipping';
import { executeUpdateOnce, until } from '../harness/wait';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const EXPIRY = 72 * HOUR;
const RETENTION = 7 * DAY;
const WATCH = 10 * MINUTE;
const SAMPLE = MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();
const weekday = (ms: number) => new Date(ms).toUTCString().slice(0, 3);

/** A metrics provider answering 1000 requests a minute at 50 ms, failing `errorRateAt(n)` of them on the n-th read (from 1). */
interface ScriptedMetrics extends MetricsProvider {
  /** The end of each window asked about, in order. */
  readonly ends: string[];
}

function scriptedMetrics(errorRateAt: (n: number) => number = () => 0): ScriptedMetrics {
  const ends: string[] = [];
  return {
    ends,
    async measure(_spec, _colour, windowSeconds, end): Promise<Measurement> {
      ends.push((end ?? new Date()).toISOString());
      const requests = 1000;
      return { requests, errors: Math.round(requests * errorRateAt(ends.length)), latencyMs: 50, windowSeconds };
    },
  };
}

describe('database restores on the production calendar (time-skipping server, real PostgreSQL)', () => {
  const sb = useTimeSkippingSandbox();
  const database = pgDatabaseName('prod');

  let pgDir = '';
  let pg: LocalPostgres | undefined;
  let target: PostgresTarget;
  let databases: DatabaseProvider;
  let base: BackupInfo;
  /** orders_prod's tables as the base backup holds them. */
  let atBackup: Fingerprint;

  beforeAll(async () => {
    pgDir = mkdtempSync(join(tmpdir(), 'baton-restore-calendar-'));
    // PostgreSQL runs as its own OS user, which must reach its folders in here.
    chmodSync(pgDir, 0o755);
    pg = await startSandboxPostgres(pgDir);
    target = {
      kind: 'postgres',
      host: pg.host,
      port: pg.port,
      database,
      user: pg.user,
      backupDir: join(pgDir, 'backups', 'orders-prod'),
      walArchiveDir: pg.walArchiveDir,
      scratchDir: join(pgDir, 'restore-scratch'),
    };
    databases = createDatabases({
      postgres: () => createPostgresDatabases({ binDir: findPgBinDir(), osUser: defaultPgOsUser() }),
      rds: () => {
        throw new Error('no RDS here');
      },
    });
    const stamp = iso(Date.now()).replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    base = await databases.backup(target, { backupId: `backup:orders:prod:${stamp}`, kind: 'base', critical: ['orders', 'customers'], takenBy: 'test' });
    expect(base.verified.ok).toBe(true);
    atBackup = await fingerprint();
    expect(base.manifest?.orders.rows).toBe(atBackup.orders);
  }, 180_000);

  afterAll(async () => {
    await pg?.stop();
    if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  }, 60_000);

  // ---------------------------------------------------------------- PostgreSQL and ECS, as they are

  async function sql<T extends Record<string, unknown>>(text: string, db = database): Promise<T[]> {
    const c = new PgClient({ connectionString: pg!.url(db) });
    await c.connect();
    try {
      return (await c.query<T>(text)).rows;
    } finally {
      await c.end();
    }
  }

  interface Fingerprint {
    orders: number;
    ordersMd5: string;
    customersMd5: string;
  }

  /** What a database's two tables hold: the orders' count and a checksum of both tables' rows. */
  async function fingerprint(db = database): Promise<Fingerprint> {
    const [row] = await sql<{ orders: number; o: string; c: string }>(
      `SELECT (SELECT count(*) FROM orders)::int AS orders,
              (SELECT md5(string_agg(id || ':' || customer_id || ':' || amount_cents || ':' || created_at, ',' ORDER BY id)) FROM orders) AS o,
              (SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM customers) AS c`,
      db,
    );
    return { orders: row.orders, ordersMd5: row.o, customersMd5: row.c };
  }

  /** The databases of the cluster named after orders_prod: itself, a restored copy, a set-aside original. */
  const databasesNow = async (): Promise<string[]> =>
    (await sql<{ d: string }>(`SELECT datname AS d FROM pg_database WHERE datname LIKE '${database}%' ORDER BY 1`, 'postgres')).map((r) => r.d);

  const api = () => sb.files.config.services.api.environments.prod;
  const capacity = async () => {
    const [blue, green] = await Promise.all([sb.aws.providers.compute.describe(api().compute, 'blue'), sb.aws.providers.compute.describe(api().compute, 'green')]);
    return { blue: blue.desiredCount, green: green.desiredCount };
  };

  // ---------------------------------------------------------------- runs

  /** orders in prod with the production durations and prod's approval rule. */
  function spec(): DatabaseSpec {
    const e = api();
    return {
      environment: 'prod',
      database: 'orders',
      target,
      services: [{ service: 'api', compute: e.compute, smokeTestUrls: e.smokeTestUrls, metrics: e.metrics, thresholds: e.thresholds }],
      critical: ['orders', 'customers'],
      assertions: [
        { name: 'orders in the last day', sql: "SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '1 day'" },
        { name: 'every order has its customer', sql: 'SELECT NOT EXISTS (SELECT 1 FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL)' },
      ],
      objectives: { rpoSeconds: 300, rtoSeconds: 1800 },
      watchSeconds: WATCH / 1000,
      sampleSeconds: SAMPLE / 1000,
      retentionSeconds: RETENTION / 1000,
      approvalExpirySeconds: EXPIRY / 1000,
      approvals: [{ role: 'release-manager', count: 1 }],
      drill: null,
    };
  }

  /** Each test's worker polls a task queue of its own: no task of a run a stopped worker had cached is routed to it. */
  let taskQueue = '';
  let tests = 0;
  /** Every restore the running test started. */
  const started: WorkflowHandle[] = [];

  async function withWorker<T>(metrics: ScriptedMetrics, fn: () => Promise<T>): Promise<T> {
    taskQueue = `${sb.files.taskQueue}-restore-${++tests}`;
    // Inside the worker's run: a closed run's status query needs a worker to answer it.
    const run = async () => {
      try {
        return await fn();
      } finally {
        await stopLeftovers();
      }
    };
    return sb.withWorker(metrics, run, { databases, temporal: undefined }, taskQueue);
  }

  /** A test that failed half-way leaves runs behind; with no worker they would hold the next test's clock. */
  async function stopLeftovers(): Promise<void> {
    for (const h of started.splice(0)) {
      if ((await h.describe().catch(() => null))?.status.name === 'RUNNING') await h.terminate('the test has ended').catch(() => undefined);
    }
  }

  async function restoreInput(restoreTarget: RestoreTarget): Promise<RestoreInput> {
    return {
      id: restoreId('orders', 'prod', await sb.env.currentTimeMs()),
      mode: 'restore',
      request: { environment: 'prod', database: 'orders', target: restoreTarget, reason: 'orders damaged by a bad migration', incidentAt: null, requestedBy: 'ada' },
      spec: spec(),
      notify: sb.files.config.notifications,
    };
  }

  async function startRestore(restoreTarget: RestoreTarget = { backup: base.id }): Promise<WorkflowHandle> {
    const input = await restoreInput(restoreTarget);
    const h = await sb.env.client.workflow.start('restore', { workflowId: input.id, taskQueue, args: [input] });
    started.push(h);
    return h;
  }

  /** Starts a restore with an Update that the server delivers in the run's first workflow task. */
  async function startWith<A>(update: UpdateDefinition<RestoreStatus, [A]>, arg: A): Promise<{ h: WorkflowHandle; accepted: RestoreStatus }> {
    const input = await restoreInput({ backup: base.id });
    const start = new WithStartWorkflowOperation('restore', { workflowId: input.id, taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL' });
    const accepted = await sb.env.client.workflow.executeUpdateWithStart(update, { args: [arg], startWorkflowOperation: start });
    const h = await start.workflowHandle();
    started.push(h);
    return { h, accepted };
  }

  const statusOf = (h: WorkflowHandle): Promise<RestoreStatus> => h.query(restoreStatusQuery);

  /** Waits (in real time: planning runs) until the run asks for approval; returns when it started waiting (when its longest timer, the expiry, started). */
  async function askedAt(h: WorkflowHandle): Promise<number> {
    const s = await until(`${h.workflowId} to ask for approval`, () => statusOf(h), (x) => x.phase === 'awaiting_approval' || x.outcome !== null, 60_000);
    expect(s).toMatchObject({ phase: 'awaiting_approval', outcome: null, pending: ['waiting for 1 more release-manager approval'] });
    const timers = (await historyFacts(h)).filter((f) => f.type === 'TIMER_STARTED').sort((a, b) => (b.timerSeconds ?? 0) - (a.timerSeconds ?? 0));
    if (timers.length === 0) throw new Error(`${h.workflowId} waits for approval with no timer`);
    return timers[0].at;
  }

  const approve = (h: WorkflowHandle) =>
    executeUpdateOnce(h, restoreApprovalUpdate, [{ environment: 'prod', decision: 'approve', by: 'rosa', roles: ['release-manager'], comment: 'restore it' }]);

  async function sleepUntil(ms: number): Promise<void> {
    const now = await sb.env.currentTimeMs();
    if (ms > now) await sb.env.sleep(ms - now);
  }

  /** Lets workflow time run, in steps, until the run's status satisfies `ok`. */
  async function skipUntil(h: WorkflowHandle, what: string, step: Duration, ok: (s: RestoreStatus) => boolean, maxSteps = 120): Promise<RestoreStatus> {
    for (let i = 0; i < maxSteps; i++) {
      const s = await statusOf(h);
      if (ok(s)) return s;
      if (s.outcome) throw new Error(`${h.workflowId} ended (${s.outcome}: ${s.error}) while waiting for ${what}`);
      await sb.env.sleep(step);
    }
    throw new Error(`${what} did not happen`);
  }

  /**
   * Lets workflow time run to `ms`, by when the run must have ended, then waits (in real time,
   * for its last activities) until it has. Never waits on result(): between a run's end and the
   * client locking time again, the test server skips to its next timer of any kind (an ended
   * run's execution timeout, ten years on), and every later test would start in another decade.
   */
  async function endedBy(h: WorkflowHandle, ms: number): Promise<RestoreStatus> {
    await sleepUntil(ms);
    await until(`${h.workflowId} to end by ${iso(ms)}`, async () => (await h.describe()).status.name, (st) => st !== 'RUNNING', 30_000);
    return statusOf(h);
  }

  /** No activity timed out or failed: time never skipped under a running one (a restore runs for real seconds). */
  async function expectNoActivityTimedOut(h: WorkflowHandle): Promise<void> {
    const types = (await historyFacts(h)).map((f) => f.type);
    expect(types.filter((t) => t === 'ACTIVITY_TASK_TIMED_OUT' || t === 'ACTIVITY_TASK_FAILED')).toEqual([]);
  }

  const at = (s: RestoreStatus, type: string): number => {
    const e = s.timeline.find((x) => x.type === type);
    if (!e) throw new Error(`no '${type}' in the timeline: ${s.timeline.map((x) => x.type).join(', ')}`);
    return Date.parse(e.at);
  };

  // ---------------------------------------------------------------- tests

  it('waits 72 h for an approval that never comes, then ends expired having changed nothing', async () => {
    const before = await capacity();
    const metrics = scriptedMetrics();
    await withWorker(metrics, async () => {
      const h = await startRestore();
      const asked = await askedAt(h);

      await sleepUntil(asked + EXPIRY - MINUTE);
      const waiting = await statusOf(h);
      expect(waiting).toMatchObject({ phase: 'awaiting_approval', outcome: null, approvals: [], pending: ['waiting for 1 more release-manager approval'] });

      const s = await endedBy(h, asked + EXPIRY + MINUTE);
      expect(s).toMatchObject({ outcome: 'expired', phase: 'expired', error: expect.stringMatching(/^not approved within /), copy: null, switchedAt: null, setAside: null, resumedAt: null });
      const endedAfter = Date.parse(s.endedAt!) - asked;
      expect(endedAfter).toBeGreaterThanOrEqual(EXPIRY);
      expect(endedAfter).toBeLessThan(EXPIRY + 5_000);
      // Nothing changed: never quiesced, no copy, the services at their counts.
      expect(s.services).toEqual([{ service: 'api', capacity: null, smoke: null }]);
      expect(s.timeline.map((e) => e.type)).not.toContain('quiesced');
      const facts = await historyFacts(h);
      const slack = ['postMessage', 'updateMessage'];
      expect(scheduled(facts).map((f) => f.activityType).filter((t) => !slack.includes(t ?? ''))).toEqual(['planRestore', 'recordDatabaseRun']);
      expect(await databasesNow()).toEqual([database]);
      expect(await capacity()).toEqual(before);
      expect(metrics.ends).toEqual([]);
      await replayAll(h);
    });
  }, 120_000);

  it('restores when approved days later, watches the services for 10 minutes at one sample a minute, keeps the original 7 days and then drops it', async () => {
    const before = await capacity();
    // Written after the backup: the restored copy does not hold it, the set-aside original does.
    await sql(`INSERT INTO orders (customer_id, amount_cents) VALUES (1, 777), (2, 777)`);
    const original = await fingerprint();
    const metrics = scriptedMetrics();
    await withWorker(metrics, async () => {
      const h = await startRestore();
      const asked = await askedAt(h);
      // Approved on the third day of waiting, in the small hours of some weekday.
      await sleepUntil(asked + 61 * HOUR + 37 * MINUTE);
      expect((await statusOf(h)).phase).toBe('awaiting_approval');
      await approve(h);
      const approvedAt = await sb.env.currentTimeMs();

      const retaining = await skipUntil(h, 'the retention', '1m', (s) => s.phase === 'retaining');
      expect(retaining).toMatchObject({ outcome: null, switchedBackAt: null, setAside: { name: expect.stringMatching(/^orders_prod_pre_restore_\d{12}$/), dropped: false } });
      expect(retaining.verification.length).toBeGreaterThan(0);
      expect(retaining.verification.every((v) => v.ok)).toBe(true);
      expect(retaining.services).toEqual([{ service: 'api', capacity: before, smoke: expect.stringMatching(/^passed/) }]);
      expect(await capacity()).toEqual(before);
      // The restored copy serves as orders_prod; the original, as it was, is kept aside.
      const aside = retaining.setAside!.name;
      expect(await databasesNow()).toEqual([database, aside].sort());
      expect(await fingerprint()).toEqual(atBackup);
      expect(await fingerprint(aside)).toEqual(original);

      // The watch: from the smoke test on, one sample a minute for 10 minutes, each read for the window ending then.
      const watchFrom = at(retaining, 'smoke_passed');
      const samples = retaining.samples.map((x) => Date.parse(x.at));
      expect(retaining.samples.map((x) => x.verdict)).toEqual(Array(10).fill('pass'));
      expect(metrics.ends).toEqual(retaining.samples.map((x) => x.at));
      expect(samples[0] - watchFrom).toBeGreaterThanOrEqual(SAMPLE);
      expect(samples[0] - watchFrom).toBeLessThan(SAMPLE + 5_000);
      for (let i = 1; i < samples.length; i++) {
        expect(samples[i] - samples[i - 1]).toBeGreaterThan(SAMPLE - 5_000);
        expect(samples[i] - samples[i - 1]).toBeLessThan(SAMPLE + 5_000);
      }
      expect(samples[9] - watchFrom).toBeGreaterThanOrEqual(WATCH);
      expect(samples[9] - watchFrom).toBeLessThan(WATCH + 5_000);
      expect(at(retaining, 'watched')).toBeGreaterThanOrEqual(samples[9]);

      // Kept aside for 7 days from the end of the watch.
      const keepUntil = Date.parse(retaining.setAside!.until!);
      expect(keepUntil - at(retaining, 'watched')).toBeGreaterThanOrEqual(RETENTION);
      expect(keepUntil - at(retaining, 'watched')).toBeLessThan(RETENTION + 5_000);
      expect(keepUntil - Date.parse(retaining.switchedAt!)).toBeGreaterThanOrEqual(RETENTION + WATCH);
      expect(keepUntil - Date.parse(retaining.switchedAt!)).toBeLessThan(RETENTION + WATCH + 2 * MINUTE);

      for (const left of [HOUR, MINUTE]) {
        await sleepUntil(keepUntil - left);
        expect((await statusOf(h)).phase).toBe('retaining');
        expect(await databasesNow()).toEqual([database, aside].sort());
      }

      const s = await endedBy(h, keepUntil + MINUTE);
      expect(s).toMatchObject({ outcome: 'succeeded', phase: 'completed', error: null, setAside: { name: aside, dropped: true } });
      expect(at(s, 'set_aside_dropped')).toBeGreaterThanOrEqual(keepUntil);
      expect(at(s, 'set_aside_dropped')).toBeLessThan(keepUntil + 5_000);
      expect(Date.parse(s.endedAt!) - keepUntil).toBeLessThan(5_000);
      expect(await databasesNow()).toEqual([database]);
      expect(await fingerprint()).toEqual(atBackup);
      expect(await capacity()).toEqual(before);

      // RPO: the plan's incident (when it was made) minus the last commit the copy holds; RTO:
      // from the request to the services resumed, so it counts the days spent waiting for approval.
      expect(s.rpoSeconds).toBe(Math.max(0, Math.round((Date.parse(s.plan!.incidentAt) - Date.parse(s.copy!.lastCommitAt!)) / 1000)));
      expect(s.rtoSeconds).toBe(Math.round((Date.parse(s.resumedAt!) - Date.parse(s.startedAt)) / 1000));
      expect(s.rtoSeconds!).toBeGreaterThan((approvedAt - Date.parse(s.startedAt)) / 1000);
      expect(s.rtoMet).toBe(false);
      await expectNoActivityTimedOut(h);
      await replayAll(h);
    });
  }, 180_000);

  it('switches back when the services breach during the watch: the original serves again with its data, the services resumed', async () => {
    const before = await capacity();
    await sql(`INSERT INTO orders (customer_id, amount_cents) VALUES (3, 888)`);
    const original = await fingerprint();
    expect(original).not.toEqual(atBackup);
    // Healthy for three minutes of the watch, then half the requests fail.
    const metrics = scriptedMetrics((n) => (n <= 3 ? 0 : 0.5));
    await withWorker(metrics, async () => {
      const h = await startRestore();
      const asked = await askedAt(h);
      await sleepUntil(asked + 5 * HOUR);
      await approve(h);

      const watching = await skipUntil(h, 'the watch', '20s', (s) => s.phase === 'watching');
      expect(await fingerprint()).toEqual(atBackup); // the restored copy serves
      expect(await capacity()).toEqual(before);

      // The breach comes at the watch's fifth sample; the switch back takes seconds.
      const s = await endedBy(h, Date.parse(watching.switchedAt!) + WATCH);
      expect(s).toMatchObject({
        outcome: 'rolled_back',
        phase: 'rolled_back',
        switchedAt: watching.switchedAt,
        switchedBackAt: expect.any(String),
        error: expect.stringMatching(/^api unhealthy on the restored database: .*error rate 50 %/),
      });
      expect(s.samples.map((x) => x.verdict)).toEqual(['pass', 'pass', 'pass', 'fail', 'fail']);
      expect(metrics.ends).toHaveLength(5);
      // Switched back at the second failing sample, the fifth minute of the watch.
      const watchFrom = at(s, 'smoke_passed');
      const breach = Date.parse(s.samples[4].at);
      expect(breach - watchFrom).toBeGreaterThanOrEqual(5 * SAMPLE);
      expect(breach - watchFrom).toBeLessThan(5 * SAMPLE + 5_000);
      expect(Date.parse(s.switchedBackAt!) - breach).toBeLessThan(MINUTE);
      expect(s.cleanup).toEqual(['switched orders back to the original', expect.stringMatching(/^dropped the restored copy/), 'resumed the services on the original']);
      // The original serves again, exactly as it was; no copy or set-aside is left; the services run as before.
      expect(await databasesNow()).toEqual([database]);
      expect(await fingerprint()).toEqual(original);
      expect(await capacity()).toEqual(before);
      expect(s.services).toEqual([{ service: 'api', capacity: before, smoke: expect.stringMatching(/^passed/) }]);
      await expectNoActivityTimedOut(h);
      await replayAll(h);
    });
  }, 180_000);

  it('expires at exactly 72 h whichever day and hour of the week it is requested at (every 23 h for a week)', async () => {
    const before = await capacity();
    await withWorker(scriptedMetrics(), async () => {
      const first = await sb.env.currentTimeMs();
      const runs: Array<{ h: WorkflowHandle; asked: number }> = [];
      const misses: string[] = [];
      // What happens when, in workflow time: the requests, and a look at each one a minute before its expiry.
      const steps: Array<{ at: number; act: () => Promise<void> }> = [];
      // Eight requests 23 h apart: every day of the week, each an hour earlier in the day than the last.
      for (let t = first; t < first + 7 * DAY; t += 23 * HOUR) {
        steps.push({
          at: t,
          act: async () => {
            const h = await startRestore();
            const asked = await askedAt(h);
            runs.push({ h, asked });
            steps.push({
              at: asked + EXPIRY - MINUTE,
              act: async () => {
                const s = await statusOf(h);
                if (s.phase !== 'awaiting_approval' || s.outcome !== null) misses.push(`${h.workflowId} (asked ${weekday(asked)} ${iso(asked)}): ${s.phase}/${s.outcome} at 71h59m`);
              },
            });
          },
        });
      }
      while (steps.length > 0) {
        steps.sort((a, b) => a.at - b.at);
        const next = steps.shift()!;
        await sleepUntil(next.at);
        await next.act();
      }
      for (const { h, asked } of runs) {
        const s = await endedBy(h, runs[runs.length - 1].asked + EXPIRY + MINUTE);
        const after = Date.parse(s.endedAt!) - asked;
        if (s.outcome !== 'expired' || after < EXPIRY || after >= EXPIRY + 5_000) {
          misses.push(`${h.workflowId} (asked ${weekday(asked)} ${iso(asked)}): ${s.outcome} ${Math.round(after / 1000)} s after asking`);
        }
        if (s.timeline.some((e) => e.type === 'quiesced')) misses.push(`${h.workflowId} quiesced`);
      }
      expect(misses).toEqual([]);
      expect(runs).toHaveLength(8);
      expect(new Set(runs.map((r) => weekday(r.asked))).size).toBe(7);
      expect(await databasesNow()).toEqual([database]);
      expect(await capacity()).toEqual(before);
      for (const r of [runs[0], runs[runs.length - 1]]) await replayAll(r.h);
    });
  }, 180_000);

  it('counts an approval sent with the start (in the run\'s first task): it never waits for approval', async () => {
    const metrics = scriptedMetrics();
    await withWorker(metrics, async () => {
      const { h, accepted } = await startWith(restoreApprovalUpdate, { environment: 'prod', decision: 'approve', by: 'rosa', roles: ['release-manager'], comment: 'go' });
      expect(accepted).toMatchObject({ phase: 'planning', approvals: [{ by: 'rosa', decision: 'approve' }] });
      // The approval holds: the run goes straight on to restore, and needs no time to pass.
      const restored = await until(`${h.workflowId} to switch`, () => statusOf(h), (x) => x.switchedAt !== null || x.outcome !== null, 60_000);
      expect(restored).toMatchObject({ outcome: null, switchedAt: expect.any(String), pending: [] });
      const types = restored.timeline.map((e) => e.type);
      expect(types.indexOf('approved')).toBeLessThan(types.indexOf('planned'));
      expect(types).toContain('plan_confirmed');
      // Nothing waited on the 72 h expiry timer: the first long timer is the watch's sampling.
      const timers = (await historyFacts(h)).filter((f) => f.type === 'TIMER_STARTED').map((f) => f.timerSeconds ?? 0);
      expect(timers.every((t) => t < EXPIRY / 1000)).toBe(true);
      // It runs to its end (the watch, then the retention drops the set-aside original). Not
      // cancelled here: the Java test server refuses a cancel of an activity that completed in the
      // same instant (ACTIVITY_UNKNOWN) and the run's task then fails for good; the cancel paths
      // are tested without that race above and on the dev server.
      await skipUntil(h, 'the retention', '1m', (x) => x.phase === 'retaining' || x.outcome !== null);
      const s = await skipUntil(h, 'the end', '12h', (x) => x.outcome !== null, 40);
      expect(s).toMatchObject({ outcome: 'succeeded', switchedBackAt: null, setAside: { dropped: true } });
      expect(await databasesNow()).toEqual([database]);
      await replayAll(h);
    });
  }, 120_000);

  it('acts on a cancel sent with the start (in the run\'s first task): it ends cancelled having changed nothing', async () => {
    const before = await capacity();
    const metrics = scriptedMetrics();
    await withWorker(metrics, async () => {
      const { h, accepted } = await startWith(restoreCancelUpdate, { reason: 'wrong database', by: 'rosa' });
      expect(accepted.phase).toBe('planning');
      const s = await until(`${h.workflowId} to end`, () => statusOf(h), (x) => x.outcome !== null, 60_000);
      expect(s).toMatchObject({ outcome: 'cancelled', error: 'cancelled by rosa: wrong database', copy: null, switchedAt: null, resumedAt: null });
      expect(s.services).toEqual([{ service: 'api', capacity: null, smoke: null }]);
      expect(s.timeline.map((e) => e.type)).not.toContain('quiesced');
      expect(await databasesNow()).toEqual([database]);
      expect(await capacity()).toEqual(before);
      await replayAll(h);
    });
  }, 120_000);
});
