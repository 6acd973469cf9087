// The API when Temporal stops answering: a stuck server (SIGSTOP: connections stay open, nothing
// answers) and a killed one. Every request that needs Temporal is answered 503 within its
// deadline instead of hanging, and answers again once Temporal does. /readyz also notices when
// no worker polls the main task queue any more. A whole local Baton with its own dev server.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { anonymous, authed, errorOf, type Answer, type ApiCaller } from '../harness/api';
import { startStack, type Stack } from '../harness/stack';
import { until } from '../harness/wait';

/** What /readyz asks of workers here: a poll within 15 s (production: 2 minutes). */
const WORKERS_WITHIN_MS = 15_000;

describe('API: Temporal stuck or down', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let deployer: ApiCaller;

  beforeAll(async () => {
    stack = await startStack();
    app = await buildApp({ client: stack.client, config: stack.config, readyWorkersWithinMs: WORKERS_WITHIN_MS });
    deployer = authed(app, stack.people.deployer);
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  }, 120_000);

  const temporalPid = () => stack.temporal.process.child.pid!;
  /** Signals the dev server's whole process group (the CLI and what it runs). */
  const signalTemporal = (signal: NodeJS.Signals) => process.kill(-temporalPid(), signal);

  /**
   * Stops the dev server and returns once every one of its threads is stopped. A stop signal
   * takes effect when a thread of the process next runs; on a busy machine that can be after
   * the next request has been answered (in CI a status read was answered 404 "just after" the
   * signal), so the test reads each thread's state (Linux /proc) rather than trust the signal.
   */
  async function stopTemporal(): Promise<void> {
    signalTemporal('SIGSTOP');
    const task = `/proc/${temporalPid()}/task`;
    // A thread's state is the field after its name, which ends at the stat line's last ')'.
    const states = async () => readdirSync(task).map((tid) => readFileSync(`${task}/${tid}/stat`, 'utf8').split(') ').pop()![0]);
    await until('every thread of the Temporal server to be stopped', states, (s) => s.every((state) => state === 'T' || state === 't'), 10_000, 20);
  }

  /** The request's answer and how long it took. */
  async function timed(send: () => Promise<Answer>): Promise<{ res: Answer; ms: number }> {
    const started = Date.now();
    const res = await send();
    return { res, ms: Date.now() - started };
  }

  const needsTemporal: Array<[string, () => Promise<Answer>]> = [
    ['GET a deployment\'s status', () => deployer.get('/v1/deployments/deploy:web:dev:1.0.0')],
    ['POST an action', () => deployer.post('/v1/deployments/deploy:web:dev:1.0.0/actions', { action: 'pause', reason: 'test' })],
    ['POST a deployment', () => deployer.post('/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0' })],
  ];

  async function expectUnavailable(): Promise<void> {
    // Side by side: each has its own deadline, and none waits for another.
    const answers = await Promise.all(needsTemporal.map(([, send]) => timed(send)));
    answers.forEach(({ res, ms }, i) => {
      const what = needsTemporal[i][0];
      expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(503);
      expect(errorOf(res).code).toBe('unavailable');
      expect(res.headers['retry-after']).toBeDefined();
      // Generous: the point is that it does not hang.
      expect(ms, `${what} took ${ms} ms`).toBeLessThan(6000);
    });
  }

  it('is ready while Temporal answers and a worker polls', async () => {
    expect((await anonymous(app).get('/readyz')).status).toBe(200);
    expect((await deployer.get('/v1/deployments/deploy:web:dev:1.0.0')).status).toBe(404);
  });

  it('answers 503 within the deadline while the Temporal server is stopped (SIGSTOP), and answers again after SIGCONT', async () => {
    await stopTemporal();
    try {
      await expectUnavailable();
      const ready = await timed(() => anonymous(app).get('/readyz'));
      expect(ready.res.status).toBe(503);
      expect(ready.ms).toBeLessThan(6000);
      expect((await anonymous(app).get('/healthz')).status).toBe(200);
    } finally {
      signalTemporal('SIGCONT');
    }
    await until('the API to reach Temporal again', () => deployer.get('/v1/deployments/deploy:web:dev:1.0.0'), (r) => r.status === 404, 60_000);
    await until('/readyz to be 200 again', () => anonymous(app).get('/readyz'), (r) => r.status === 200, 60_000);
  }, 120_000);

  it('answers /readyz 503 naming the task queue once no worker has polled it within the window, and 200 when one does again', async () => {
    await stack.stopWorker();
    try {
      const res = await until('/readyz to notice the stopped worker', () => anonymous(app).get('/readyz'), (r) => r.status === 503, 90_000);
      expect(errorOf(res)).toEqual({ code: 'unavailable', message: expect.stringContaining(`no worker has polled task queue '${stack.taskQueue}'`) });
      // Everything else still answers: a stopped worker does not make Temporal unreachable.
      expect((await deployer.get('/v1/deployments/deploy:web:dev:1.0.0')).status).toBe(404);
    } finally {
      await stack.startWorker();
    }
    await until('/readyz to be 200 with the worker back', () => anonymous(app).get('/readyz'), (r) => r.status === 200, 60_000);
  }, 180_000);

  it('answers 503 within the deadline once the Temporal server is gone', async () => {
    await stack.stopWorker();
    await stack.temporal.stop();
    await expectUnavailable();
    expect((await anonymous(app).get('/readyz')).status).toBe(503);
    // The client retries a refused call up to 10 times over about 20 s, past the request's
    // deadline; closing its connection (afterAll) while such a retry is pending makes the retry
    // throw where nothing can catch it. Let them run out first.
    await new Promise((r) => setTimeout(r, 22_000));
  }, 120_000);
});
