// Release trains on a real Temporal dev server (schedules and visibility need it; no worker:
// a departure's workflow starts and waits, and is terminated here). Syncing config into
// Temporal Schedules, listing departures, pause/unpause/trigger through the API, and who may.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client, ScheduleDescription } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { hashToken, resolveConfig, type BatonConfig } from '../../src/config';
import { nextDepartures } from '../../src/domain/calendar';
import { syncTrainSchedules, type TrainSchedule } from '../../src/temporal/schedules';
import { authed, anonymous, errorOf, type ApiCaller } from '../harness/api';
import { startTemporalWithClient, type TemporalWithClient } from '../harness/servers';

const TOKENS = { admin: 'admin-token', manager: 'manager-token', deployer: 'deployer-token', viewer: 'viewer-token' };
const TASK_QUEUE = 'baton-schedules-test';

function configDoc(train: Record<string, unknown> = {}): Record<string, unknown> {
  const target = (service: string) => ({
    region: 'us-east-1',
    ecs: { cluster: 'prod', blueService: `${service}-blue`, greenService: `${service}-green` },
    traffic: { type: 'alb', listenerArn: 'arn:listener', blueTargetGroupArn: 'arn:blue', greenTargetGroupArn: 'arn:green' },
    metrics: { blueDimensions: { TargetGroup: 'blue' }, greenDimensions: { TargetGroup: 'green' } },
    smokeTestUrl: 'http://127.0.0.1:9/{colour}/healthz',
  });
  return {
    roles: { 'release-manager': ['read', 'deploy', 'release'] },
    people: [
      { name: 'ada', roles: ['admin'], tokenSha256: hashToken(TOKENS.admin) },
      { name: 'rosa', roles: ['release-manager'], tokenSha256: hashToken(TOKENS.manager) },
      { name: 'dan', roles: ['deployer'], tokenSha256: hashToken(TOKENS.deployer) },
      { name: 'val', roles: ['viewer'], tokenSha256: hashToken(TOKENS.viewer) },
    ],
    environments: { staging: { plan: 'quick' }, prod: { plan: 'quick', gate: { train: true } } },
    plans: { quick: { steps: [{ shift: 100 }] } },
    services: {
      web: { image: 'registry.example.com/web', environments: { prod: target('web') } },
      api: { image: 'registry.example.com/api', environments: { prod: target('api') } },
    },
    trains: {
      prod: { days: ['TUE'], at: '10:00', timeZone: 'America/Los_Angeles', window: '4h', concurrency: 2, order: ['api', 'web'], catchupWindow: '1h', ...train },
    },
    temporal: { taskQueue: TASK_QUEUE },
  };
}

/** JSON with object keys sorted (the server's maps come back in any order). */
function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** What a sync could change, and the server's token for the schedule's current version. */
function fingerprint(d: ScheduleDescription): unknown {
  return {
    schedule: sortedJson(d.raw.schedule),
    conflictToken: Buffer.from(d.raw.conflictToken ?? []).toString('hex'),
    lastUpdatedAt: d.info.lastUpdatedAt?.toISOString() ?? null,
  };
}

/** The weekday and HH:MM of an instant in a zone, and the zone's abbreviation then. */
function wallClock(ms: number, timeZone: string): { weekday: string; time: string; zone: string } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return { weekday: part('weekday'), time: `${part('hour')}:${part('minute')}`, zone: part('timeZoneName') };
}

describe('API: release train schedules on a real Temporal server', () => {
  let temporal: TemporalWithClient;
  let client: Client;
  let config: BatonConfig;
  let app: FastifyInstance;
  let as: Record<keyof typeof TOKENS, ApiCaller>;
  const started: string[] = [];

  const describeTrain = () => client.schedule.getHandle('train-prod').describe();

  /** The releaseTrain runs visibility knows of (this test's task queue only): workflow ids, or run ids. */
  async function trainRuns(key: 'workflowId' | 'runId' = 'workflowId'): Promise<string[]> {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowType='releaseTrain' AND TaskQueue='${TASK_QUEUE}'` })) ids.push(wf[key]);
    return ids;
  }

  beforeAll(async () => {
    temporal = await startTemporalWithClient();
    client = temporal.client;
    config = resolveConfig(configDoc());
    app = await buildApp({ client, config });
    as = {
      admin: authed(app, TOKENS.admin),
      manager: authed(app, TOKENS.manager),
      deployer: authed(app, TOKENS.deployer),
      viewer: authed(app, TOKENS.viewer),
    };
  }, 120_000);

  afterEach(async () => {
    // Departures started here have no worker to run them: end them.
    for (const id of started.splice(0)) {
      await client.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
    }
  });

  afterAll(async () => {
    await client?.schedule.getHandle('train-prod').delete().catch(() => undefined);
    await app?.close();
    await temporal?.stop();
  });

  it('lists a configured train as not scheduled before any worker has synced it', async () => {
    const res = await as.viewer.get<{ schedules: TrainSchedule[] }>('/v1/schedules');
    expect(res.status).toBe(200);
    expect(res.body.schedules).toEqual([expect.objectContaining({ id: 'train-prod', scheduled: false, paused: false, departures: [] })]);
    const pause = await as.admin.post('/v1/schedules/train-prod/pause', { reason: 'too early' });
    expect(pause.status).toBe(404);
  });

  it('creates train-prod: Tuesdays 10:00 America/Los_Angeles, overlap SKIP, starting releaseTrain', async () => {
    expect(await syncTrainSchedules(client, config)).toEqual({ created: ['train-prod'], updated: [], unchanged: [] });
    const d = await describeTrain();
    expect(d.spec.timezone).toBe('America/Los_Angeles');
    expect(d.spec.calendars).toEqual([expect.objectContaining({
      dayOfWeek: [{ start: 'TUESDAY', end: 'TUESDAY', step: 1 }],
      hour: [{ start: 10, end: 10, step: 1 }],
      minute: [{ start: 0, end: 0, step: 1 }],
    })]);
    expect(d.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 3_600_000 });
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'releaseTrain', taskQueue: TASK_QUEUE, workflowId: 'train-prod', args: [{ environment: 'prod', train: config.trains.prod }] });
    const pairs = d.action.typedSearchAttributes;
    const attributes = Object.fromEntries((Array.isArray(pairs) ? pairs : pairs?.getAll() ?? []).map((p) => [p.key.name, p.value]));
    expect(attributes).toEqual({ BatonKind: 'train', BatonEnvironment: 'prod' });
    expect(d.state.paused).toBe(false);
  });

  it('changes nothing when synced a second time', async () => {
    const before = fingerprint(await describeTrain());
    expect(await syncTrainSchedules(client, config)).toEqual({ created: [], updated: [], unchanged: ['train-prod'] });
    expect(fingerprint(await describeTrain())).toEqual(before);
  });

  it('updates a train whose config changed, keeping a paused one paused with its note', async () => {
    await client.schedule.getHandle('train-prod').pause('change freeze');
    try {
      const moved = resolveConfig(configDoc({ at: '11:30', catchupWindow: '30m' }));
      expect(await syncTrainSchedules(client, moved)).toEqual({ created: [], updated: ['train-prod'], unchanged: [] });
      const d = await describeTrain();
      expect(d.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 11, end: 11, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] });
      expect(d.policies.catchupWindow).toBe(1_800_000);
      expect(d.state).toMatchObject({ paused: true, note: 'change freeze' });
      expect(await syncTrainSchedules(client, moved)).toMatchObject({ unchanged: ['train-prod'] });
    } finally {
      expect(await syncTrainSchedules(client, config)).toMatchObject({ updated: ['train-prod'] });
      await client.schedule.getHandle('train-prod').unpause('test done');
    }
    expect((await describeTrain()).state.paused).toBe(false);
  });

  it('lists the next five departures: Tuesdays 10:00 in Los Angeles, 17:00 UTC in summer time and 18:00 UTC in winter time', async () => {
    const res = await as.viewer.get<{ schedules: TrainSchedule[] }>('/v1/schedules');
    expect(res.status).toBe(200);
    const [train] = res.body.schedules;
    expect(train).toMatchObject({
      id: 'train-prod', environment: 'prod', scheduled: true, paused: false, days: ['TUE'], at: '10:00',
      timeZone: 'America/Los_Angeles', windowSeconds: 14_400, concurrency: 2, order: ['api', 'web'],
    });
    expect(train.departures).toHaveLength(5);
    for (const dep of train.departures) {
      const at = Date.parse(dep.at);
      expect(at).toBeGreaterThan(Date.now());
      const local = wallClock(at, 'America/Los_Angeles');
      expect(local).toMatchObject({ weekday: 'Tue', time: '10:00' });
      expect(['PST', 'PDT']).toContain(local.zone);
      expect(new Date(at).getUTCHours()).toBe(local.zone === 'PDT' ? 17 : 18);
      expect(new Date(at).getUTCMinutes()).toBe(0);
      expect(dep.local).toBe(`Tue 10:00 ${local.zone}`);
      expect(dep.utc).toMatch(new RegExp(`^Tue \\d{4}-\\d{2}-\\d{2} ${new Date(at).getUTCHours()}:00 UTC$`));
      expect(dep.utc).toContain(dep.at.slice(0, 10));
    }
    // The server's calendar and ours agree.
    const fromMs = Date.parse(train.departures[0].at) - 1000;
    expect(nextDepartures(config.trains.prod, fromMs, 5).map((t) => new Date(t).toISOString())).toEqual(train.departures.map((d) => d.at));
  });

  it('pauses a train with the reason as the schedule note, and unpauses it', async () => {
    const paused = await as.admin.post<TrainSchedule>('/v1/schedules/train-prod/pause', { reason: 'Holiday freeze until Jan 4' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id: 'train-prod', paused: true, note: 'Holiday freeze until Jan 4' });
    expect((await describeTrain()).state).toMatchObject({ paused: true, note: 'Holiday freeze until Jan 4' });
    // Listed with its reason; the departures stay listed (a paused train skips them).
    const listed = await as.viewer.get<{ schedules: TrainSchedule[] }>('/v1/schedules');
    expect(listed.body.schedules[0]).toMatchObject({ paused: true, note: 'Holiday freeze until Jan 4' });

    const unpaused = await as.admin.post<TrainSchedule>('/v1/schedules/train-prod/unpause', { reason: 'freeze over' });
    expect(unpaused.status).toBe(200);
    expect(unpaused.body).toMatchObject({ paused: false, note: 'freeze over' });
    expect((await describeTrain()).state.paused).toBe(false);

    // Without a body, or with an empty one, unpause still works (the note says so).
    await as.admin.post('/v1/schedules/train-prod/pause', { reason: 'again' });
    const bare = await as.admin.post<TrainSchedule>('/v1/schedules/train-prod/unpause');
    expect(bare).toMatchObject({ status: 200, body: { paused: false, note: 'unpaused' } });
  });

  it('refuses to trigger a paused train (Temporal would run it anyway): 409, and nothing starts', async () => {
    await as.admin.post('/v1/schedules/train-prod/pause', { reason: 'security incident' });
    try {
      const res = await as.admin.post('/v1/schedules/train-prod/trigger');
      expect(res.status).toBe(409);
      expect(errorOf(res)).toMatchObject({ code: 'conflict', message: expect.stringMatching(/train-prod is paused: security incident; unpause it/) });
      await new Promise((r) => setTimeout(r, 1500));
      expect(await trainRuns()).toEqual([]);
      expect((await describeTrain()).info.numActionsTaken).toBe(0);
    } finally {
      await as.admin.post('/v1/schedules/train-prod/unpause', { reason: 'incident closed' });
    }
  });

  it('triggers an unscheduled departure: a releaseTrain run starts with BatonKind=train', async () => {
    const res = await as.admin.post<TrainSchedule>('/v1/schedules/train-prod/trigger');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'train-prod', paused: false });
    const deadline = Date.now() + 20_000;
    let runs: string[] = [];
    while (Date.now() < deadline && runs.length === 0) {
      runs = await trainRuns();
      if (runs.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    started.push(...runs);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/^train-prod-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const run = await client.workflow.getHandle(runs[0]).describe();
    expect(run.type).toBe('releaseTrain');
    expect(run.taskQueue).toBe(TASK_QUEUE);
    const attributes = Object.fromEntries(run.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(attributes).toMatchObject({ BatonKind: 'train', BatonEnvironment: 'prod' });
  });

  it('documents why the API refuses: Temporal itself does run a trigger on a paused schedule', async () => {
    const handle = client.schedule.getHandle('train-prod');
    // Compared by run id: a departure's workflow id is `train-prod-<second>`, so two departures
    // in the same second share it (the earlier run, terminated, frees it for the later one).
    const before = await trainRuns('runId');
    await handle.pause('paused behind the API\'s back');
    try {
      await handle.trigger();
      const deadline = Date.now() + 20_000;
      let fresh: string[] = [];
      while (Date.now() < deadline && fresh.length === 0) {
        fresh = (await trainRuns('runId')).filter((id) => !before.includes(id));
        if (fresh.length === 0) await new Promise((r) => setTimeout(r, 250));
      }
      started.push(...(await trainRuns()));
      expect(fresh).toHaveLength(1);
      expect((await describeTrain()).state.paused).toBe(true);
    } finally {
      await handle.unpause('test done');
    }
  });

  describe('who may, and bad requests', () => {
    it('lets anyone with read list trains, and nobody without a token', async () => {
      for (const who of [as.viewer, as.deployer, as.manager, as.admin]) expect((await who.get('/v1/schedules')).status).toBe(200);
      expect((await anonymous(app).get('/v1/schedules')).status).toBe(401);
    });

    it('lets only admins pause, unpause or trigger (403 names who and what)', async () => {
      const runsBefore = await trainRuns();
      for (const who of [as.viewer, as.deployer, as.manager]) {
        const trigger = await who.post('/v1/schedules/train-prod/trigger');
        expect(trigger.status).toBe(403);
        expect(errorOf(trigger).message).toMatch(/may not trigger release trains \(needs admin\)/);
        expect((await who.post('/v1/schedules/train-prod/pause', { reason: 'mine' })).status).toBe(403);
        expect((await who.post('/v1/schedules/train-prod/unpause', { reason: 'mine' })).status).toBe(403);
      }
      expect(errorOf(await as.manager.post('/v1/schedules/train-prod/trigger')).message).toBe(
        'rosa (release-manager) may not trigger release trains (needs admin)',
      );
      expect((await describeTrain()).state.paused).toBe(false);
      await new Promise((r) => setTimeout(r, 1000));
      expect(await trainRuns()).toEqual(runsBefore);
    });

    it.each(['train-moon', 'train-staging', 'nightly-backup'])('answers 404 for schedule %s', async (id) => {
      for (const action of ['pause', 'unpause', 'trigger']) {
        const res = await as.admin.post(`/v1/schedules/${id}/${action}`, action === 'pause' ? { reason: 'r' } : undefined);
        expect(res.status).toBe(404);
        expect(errorOf(res)).toEqual({ code: 'not_found', message: expect.stringContaining(`no release train '${id}'`) });
      }
    });

    it.each([
      ['no reason', {}, /^body: must have required property 'reason'$/, 'reason'],
      ['an empty reason', { reason: '' }, /^reason: must NOT have fewer than 1 characters$/, 'reason'],
      ['a blank reason', { reason: '   ' }, /^reason: must match pattern/, 'reason'],
      ['a reason that is not a string', { reason: 42 }, /^reason: must be string$/, 'reason'],
      ['an extra property', { reason: 'r', until: 'monday' }, /^body: unknown property 'until'$/, 'until'],
    ])('refuses a pause with %s (400 naming the field)', async (_what, body, message, field) => {
      const res = await as.admin.post('/v1/schedules/train-prod/pause', body);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: 'bad_request', message: expect.stringMatching(message), field });
      expect((await describeTrain()).state.paused).toBe(false);
    });

    it('serves the schedule routes in /openapi.json', async () => {
      const doc = (await anonymous(app).get<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>('/openapi.json')).body;
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
        '/v1/schedules', '/v1/schedules/{id}/pause', '/v1/schedules/{id}/unpause', '/v1/schedules/{id}/trigger',
      ]));
      expect(Object.keys(doc.paths['/v1/schedules/{id}/trigger'].post.responses)).toEqual(expect.arrayContaining(['200', '403', '404', '409']));
    });
  });
});
