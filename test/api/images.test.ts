// Images by digest (issue 12): a release resolves its tag in ECR (moto) when it starts and every
// environment deploys that digest, whoever pushes the tag again meanwhile; `latest` is refused;
// a digest the caller pins is checked against the tag; an unknown tag, or a registry that does
// not answer, is said plainly. On the real API, dev server, moto and worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { WorkflowHandle } from '@temporalio/client';
import { buildApp } from '../../src/api/app';
import { createEcrRegistry } from '../../src/providers/ecr';
import type { DeploymentSpec } from '../../src/domain/types';
import type { ReleaseInput, ReleaseStatus } from '../../workflows/messages';
import { authed, errorOf, type ApiCaller } from '../harness/api';
import { MOTO_CREDENTIALS, startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

const PLAN = { steps: [{ shift: 100 }], analysis: { interval: '1s', window: '3s' }, keepPreviousFor: '1s', standbyFor: '1s' };

/** The first argument a workflow was started with (the stack's client does not encrypt). */
async function startInput<T>(handle: WorkflowHandle): Promise<T> {
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload?.data) throw new Error(`${handle.workflowId} has no start input`);
  return JSON.parse(Buffer.from(payload.data).toString('utf8')) as T;
}

describe('releases deploy the digest their tag named when they started', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let as: Record<'ada' | 'dev' | 'dan' | 'ci' | 'val', ApiCaller>;
  let repo: Record<'web' | 'api', string>;

  beforeAll(async () => {
    stack = await startStack({ plan: PLAN, feeder: true });
    app = await buildApp({ client: stack.client, config: stack.config, registry: stack.registry });
    const p = stack.people;
    as = { ada: authed(app, p.admin), dev: authed(app, p.developer), dan: authed(app, p.deployer), ci: authed(app, p.ci), val: authed(app, p.viewer) };
    repo = { web: stack.config.services.web.environments.dev.image, api: stack.config.services.api.environments.dev.image };
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const release = (id: string) => as.val.get<ReleaseStatus>(`/v1/releases/${id}`).then((r) => r.body);
  const liveIn = (id: string, environment: string) =>
    until(`${id} live in ${environment}`, () => release(id), (s) => s.environments.find((e) => e.environment === environment)?.deployment?.outcome === 'succeeded', 90_000);
  /** The image the colour that takes traffic runs, as ECS (moto) has it. */
  const runningImage = async (service: string, environment: string): Promise<string | null> => {
    const env = stack.config.services[service].environments[environment];
    const weights = await stack.motoProviders.routerFor(env.traffic).getWeights();
    return (await stack.motoProviders.compute.describe(env.compute, weights.blue >= weights.green ? 'blue' : 'green')).image;
  };

  it('pins the digest in every stage, and deploys it even after the tag is pushed again', async () => {
    const digest = await stack.pushImage('api', '7.1.0');
    const res = await as.dev.post<{ id: string; status: ReleaseStatus }>('/v1/releases', { service: 'api', version: '7.1.0' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.id;
    expect(res.body.status).toMatchObject({ version: '7.1.0', digest });

    const input = await startInput<ReleaseInput>(stack.client.workflow.getHandle(id));
    expect(input.request.digest).toBe(digest);
    expect(input.stages.map((s) => [s.environment, s.deployment.image])).toEqual(
      ['dev', 'staging', 'prod'].map((env) => [env, `${repo.api}@${digest}`]),
    );

    // CI rebuilds and pushes 7.1.0 again: the release keeps what it started with.
    const rebuilt = await stack.pushImage('api', '7.1.0');
    expect(rebuilt).not.toBe(digest);
    await liveIn(id, 'dev');
    expect(await runningImage('api', 'dev')).toBe(`${repo.api}@${digest}`);
    expect((await as.ci.post(`/v1/releases/${id}/checks`, { name: 'ci', status: 'passed' })).status).toBe(200);
    await liveIn(id, 'staging');
    expect(await runningImage('api', 'staging')).toBe(`${repo.api}@${digest}`);
    // The deployment run itself was given the pinned image.
    const staging = (await release(id)).environments.find((e) => e.environment === 'staging')!.deployment!.id;
    expect(staging).toBe('deploy:api:staging:7.1.0');
    expect((await startInput<{ spec: DeploymentSpec }>(stack.client.workflow.getHandle(staging))).spec.image).toBe(`${repo.api}@${digest}`);

    expect((await as.ada.post(`/v1/releases/${id}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
  });

  it('takes a digest the caller pins when the tag names it, and refuses one the tag does not name (409, naming both)', async () => {
    const digest = await stack.pushImage('web', '7.2.0');
    const other = await stack.pushImage('web', '7.2.0-other');
    const wrong = await as.dev.post('/v1/releases', { service: 'web', version: '7.2.0', digest: other });
    expect(wrong.status, JSON.stringify(wrong.body)).toBe(409);
    expect(errorOf(wrong)).toMatchObject({ code: 'conflict', message: expect.stringContaining(`points to ${digest}, not to the digest given (${other})`) });
    expect((await as.val.get('/v1/releases/release:web:7.2.0')).status).toBe(404);

    const pinned = await as.dev.post<{ id: string; status: ReleaseStatus }>('/v1/releases', { service: 'web', version: '7.2.0', digest });
    expect(pinned.status, JSON.stringify(pinned.body)).toBe(201);
    expect(pinned.body.status.digest).toBe(digest);
    expect((await as.ada.post(`/v1/releases/${pinned.body.id}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
  });

  it('refuses a pinned digest the repository does not hold (400 naming digest), and a malformed one', async () => {
    const absent = `sha256:${'0'.repeat(64)}`;
    const res = await as.dev.post('/v1/releases', { service: 'web', version: '7.3.0', digest: absent });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(errorOf(res)).toMatchObject({ field: 'digest', message: expect.stringContaining(`there is no image ${absent}`) });
    const malformed = await as.dev.post('/v1/releases', { service: 'web', version: '7.3.0', digest: 'sha256:abc' });
    expect(malformed.status).toBe(400);
    expect(errorOf(malformed)).toMatchObject({ field: 'digest' });
  });

  it('refuses a tag ECR does not have with 400 naming version and the repository', async () => {
    const res = await as.dev.post('/v1/releases', { service: 'web', version: '7.9.9' });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(errorOf(res)).toMatchObject({
      code: 'bad_request',
      field: 'version',
      message: 'version: no image web:7.9.9 in ECR repository web (registry 123456789012, us-east-1) (push it first)',
    });
    expect((await as.val.get('/v1/releases/release:web:7.9.9')).status).toBe(404);
  });

  it('refuses `latest` for a release and for a direct deployment, with 400 naming version', async () => {
    await stack.pushImage('web', 'latest');
    const rel = await as.dev.post('/v1/releases', { service: 'web', version: 'latest' });
    const dep = await as.dan.post('/v1/deployments', { service: 'web', environment: 'dev', version: 'latest' });
    for (const res of [rel, dep]) {
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'bad_request', field: 'version', message: "version: 'latest' is a mutable tag; use a version or a digest" });
    }
  });

  it('answers 503 naming the registry when ECR does not answer, and starts nothing', async () => {
    const cut = await buildApp({ client: stack.client, config: stack.config, registry: createEcrRegistry({ endpoint: 'http://127.0.0.1:1', credentials: MOTO_CREDENTIALS }) });
    try {
      const res = await authed(cut, stack.people.developer).post('/v1/releases', { service: 'web', version: '1.1.0' });
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(errorOf(res)).toMatchObject({ code: 'unavailable', message: expect.stringContaining('ECR did not answer about ECR repository web') });
      expect((await as.val.get('/v1/releases/release:web:1.1.0')).status).toBe(404);
    } finally {
      await cut.close();
    }
  });

  it('lets an admin push an image in the sandbox, which the next release then deploys', async () => {
    const pushed = await as.ada.post<{ service: string; version: string; digest: string }>('/v1/sandbox/images', { service: 'web', version: '7.4.0' });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
    expect(pushed.body).toEqual({ service: 'web', version: '7.4.0', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect((await as.dev.post('/v1/sandbox/images', { service: 'web', version: '7.4.0' })).status).toBe(403);
    const unknown = await as.ada.post('/v1/sandbox/images', { service: 'nope', version: '7.4.0' });
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown)).toMatchObject({ field: 'service' });

    const res = await as.dev.post<{ id: string; status: ReleaseStatus }>('/v1/releases', { service: 'web', version: '7.4.0' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.status.digest).toBe(pushed.body.digest);
    expect((await as.ada.post(`/v1/releases/${res.body.id}/actions`, { action: 'cancel', reason: 'test over' })).status).toBe(200);
  });
});
