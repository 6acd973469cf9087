// How the API reads statuses, on a whole local Baton (Temporal dev server, moto seeded with the
// sandbox, the metrics feeder, a real worker, payloads encrypted as in the sandbox): a finished
// run answers from the status it kept in its memo as it ended, which is what its status query
// answers, without querying it; reads of a running run that arrive together share one query;
// a run started again under the same id answers as the new run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import { buildApp } from '../../src/api/app';
import { readRuntimeEnv } from '../../src/config';
import type { DeploymentStatus } from '../../src/domain/deployment';
import { dataConverterOf } from '../../src/temporal/codec';
import { FINAL_STATUS_MEMO } from '../../workflows/final-status';
import { deploymentStatusQuery, releaseStatusQuery, type ReleaseStatus } from '../../workflows/messages';
import { authed, errorOf, type ApiCaller } from '../harness/api';
import { startStack, type Stack } from '../harness/stack';
import { until, untilClosed } from '../harness/wait';

const PLAN = { steps: [{ shift: 50 }, { soak: '2s' }, { shift: 100 }], analysis: { interval: '1s', window: '3s' }, keepPreviousFor: '1s', standbyFor: '1s', drainMargin: '1s' };

describe('API: status reads', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let admin: ApiCaller;
  let developer: ApiCaller;
  let viewer: ApiCaller;
  /** The workflow ids the API's client sent a status query to, in order. */
  const queried: string[] = [];
  const queriesOf = (id: string) => queried.filter((q) => q === id).length;
  /** The workflow ids the API's client sent an Update to, in order. */
  const updated: string[] = [];
  const updatesOf = (id: string) => updated.filter((u) => u === id).length;

  beforeAll(async () => {
    stack = await startStack({ plan: PLAN, feeder: true, codec: true });
    // The API's own client, counting the queries it sends.
    const dataConverter = dataConverterOf(readRuntimeEnv({ BATON_CONFIG: stack.configFile, BATON_CODEC_KEYS: stack.codecKeys ?? undefined }));
    const client = new Client({
      connection: stack.client.connection,
      dataConverter,
      interceptors: {
        workflow: [{
          query: (input, next) => {
            queried.push(input.workflowExecution.workflowId);
            return next(input);
          },
          startUpdate: (input, next) => {
            updated.push(input.workflowExecution.workflowId);
            return next(input);
          },
        }],
      },
    });
    app = await buildApp({ client, config: stack.config, registry: stack.registry });
    await stack.pushImage('web', '2.0.0'); // what CI would have pushed before releasing it
    admin = authed(app, stack.people.admin);
    developer = authed(app, stack.people.developer);
    viewer = authed(app, stack.people.viewer);
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const deployment = async (id: string): Promise<DeploymentStatus> => {
    const res = await viewer.get<DeploymentStatus>(`/v1/deployments/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  };

  /** Once the run has closed: what it kept in its memo, and what its status query answers (a worker replays it). */
  async function keptAndQueried<T>(id: string, query: QueryDefinition<T>): Promise<{ kept: unknown; answered: T }> {
    // The status says how it ended a moment before the run closes (it tells its watchers last).
    const d = await untilClosed(stack.client, id);
    return { kept: d.memo?.[FINAL_STATUS_MEMO], answered: await stack.client.workflow.getHandle(id).query(query) };
  }

  it('answers a cancelled release from the status it kept, equal to its status query', async () => {
    const started = await developer.post<{ id: string }>('/v1/releases', { service: 'web', version: '2.0.0' });
    expect(started.status).toBe(201);
    const id = started.body.id;
    expect((await developer.post(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'not this one' })).status).toBe(200);
    const ended = await until(`${id} to end`, async () => (await viewer.get<ReleaseStatus>(`/v1/releases/${id}`)).body, (s) => s.outcome !== null, 120_000);
    expect(ended.outcome).toBe('cancelled');
    // The cancel may have caught it deploying web to dev: that deployment rolls back on its own
    // and must have ended before the next test deploys web to dev (else it finds traffic split).
    for (const dep of ended.environments.map((e) => e.deployment?.id).filter((d): d is string => !!d)) {
      await untilClosed(stack.client, dep, 120_000);
    }

    const { kept, answered } = await keptAndQueried<ReleaseStatus>(id, releaseStatusQuery);
    expect(kept).toEqual(answered);
    const before = queriesOf(id);
    const read = await viewer.get<ReleaseStatus>(`/v1/releases/${id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(answered);
    expect(queriesOf(id)).toBe(before);
  }, 180_000);

  describe('a deployment of web to dev that finishes', () => {
    let id: string;
    let answered: DeploymentStatus;

    it('keeps its final status in its memo, equal to what its status query answers', async () => {
      const started = await admin.post<{ id: string }>('/v1/deployments', { service: 'web', environment: 'dev', version: '1.1.0' });
      expect(started.status).toBe(201);
      id = started.body.id;
      const ended = await until(`${id} to finish`, () => deployment(id), (s) => s.outcome !== null, 120_000);
      expect(ended.outcome).toBe('succeeded');
      const both = await keptAndQueried<DeploymentStatus>(id, deploymentStatusQuery);
      answered = both.answered;
      expect(both.kept).toEqual(answered);
    }, 180_000);

    it('answers every read of it from what it kept, sending no query', async () => {
      const before = queriesOf(id);
      const reads = await Promise.all(Array.from({ length: 10 }, () => viewer.get<DeploymentStatus>(`/v1/deployments/${id}`)));
      for (const r of reads) {
        expect(r.status).toBe(200);
        expect(r.body).toEqual(answered);
      }
      expect(await deployment(id)).toEqual(answered);
      expect(queriesOf(id)).toBe(before);
    });

    it('answers as the new run once the same id is deployed again', async () => {
      const again = await admin.post<{ id: string; status: DeploymentStatus }>('/v1/deployments', { service: 'web', environment: 'dev', version: '1.1.0' });
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(id);
      expect(again.body.status.outcome).toBeNull();
      const now = await deployment(id);
      expect(now.outcome).toBeNull();
      expect(now.startedAt).not.toBe(answered.startedAt);
    });
  });

  describe('a running deployment of api to dev, paused', () => {
    let id: string;

    beforeAll(async () => {
      const started = await admin.post<{ id: string }>('/v1/deployments', { service: 'api', environment: 'dev', version: '1.1.0' });
      expect(started.status).toBe(201);
      id = started.body.id;
      expect((await admin.post(`/v1/deployments/${id}/actions`, { action: 'pause', reason: 'hold' })).status).toBe(200);
    }, 60_000);

    it('answers reads that arrive together with one query', async () => {
      const before = queriesOf(id);
      const reads = await Promise.all(Array.from({ length: 20 }, () => viewer.get<DeploymentStatus>(`/v1/deployments/${id}`)));
      for (const r of reads) {
        expect(r.status).toBe(200);
        expect(r.body).toEqual(reads[0].body);
      }
      expect(reads[0].body).toMatchObject({ id, outcome: null, paused: true });
      expect(queriesOf(id)).toBe(before + 1);
    });

    it('queries it again only once its history has grown: the same history answers the same status', async () => {
      const handle = stack.client.workflow.getHandle(id);
      // The pause lands at the next step boundary, and the run's Slack thread catches up while
      // it waits (the message's next update, up to updateEvery later): measured once its history
      // has stood still for longer than that, so every length the API reads is one seen here.
      let last = -1;
      let since = Date.now();
      await until(`${id} to stand still`, async () => {
        const length = (await handle.describe()).historyLength;
        if (length !== last) [last, since] = [length, Date.now()];
        return Date.now() - since;
      }, (stillMs) => stillMs >= 7_000, 90_000);
      const lengths = new Set<number>();
      const before = queriesOf(id);
      const statuses: DeploymentStatus[] = [];
      for (let i = 0; i < 10; i++) {
        lengths.add((await handle.describe()).historyLength);
        statuses.push(await deployment(id));
        lengths.add((await handle.describe()).historyLength);
      }
      const sent = queriesOf(id) - before;
      // One query per history length seen at most (a paused run is quiet, so usually none).
      expect(sent).toBeLessThanOrEqual(lengths.size);
      expect(sent).toBeLessThan(10);
      expect(statuses.every((st) => st.paused)).toBe(true);
    });

    it('refuses an action its status shows to be invalid without sending the run an Update', async () => {
      // Temporal runs one workflow's validators one at a time: refusals answered by the run
      // itself queued behind each other.
      const before = updatesOf(id);
      const refused = await Promise.all(Array.from({ length: 20 }, () => admin.post(`/v1/deployments/${id}/actions`, { action: 'pause', reason: 'again' })));
      for (const r of refused) {
        expect(r.status).toBe(409);
        expect(errorOf(r)).toEqual({ code: 'conflict', message: 'pause: the deployment is already paused', action: 'pause' });
      }
      expect(updatesOf(id)).toBe(before);
      expect((await deployment(id)).paused).toBe(true);
    });

    it('reads what an action did once the action has answered', async () => {
      // A read in flight as the action lands must not answer the read that follows the action.
      const during = viewer.get<DeploymentStatus>(`/v1/deployments/${id}`);
      const sent = updatesOf(id);
      const acted = await admin.post<DeploymentStatus>(`/v1/deployments/${id}/actions`, { action: 'resume', reason: 'go on' });
      expect(acted.status).toBe(200);
      expect(updatesOf(id)).toBe(sent + 1); // an action the status allows goes to the run, whose validator decides
      expect((await during).status).toBe(200);
      const after = await deployment(id);
      expect(after.paused).toBe(false);
      expect(after.timeline.length).toBeGreaterThanOrEqual(acted.body.timeline.length);
    });
  });

  it('still answers 404 naming an unknown deployment', async () => {
    const res = await viewer.get('/v1/deployments/deploy:web:dev:9.9.9');
    expect(res.status).toBe(404);
    expect(errorOf(res)).toEqual({ code: 'not_found', message: "no deployment 'deploy:web:dev:9.9.9'" });
  });
});
