// How many status reads and actions the API serves, and how fast, as a new user runs it: the
// API and the worker each in their own process (as `npm start` runs them, payloads encrypted),
// Temporal's dev server and moto behind them, and autocannon on loopback with 20 connections,
// at fixed offered rates and flat out. Beside it, in the same run, a bare Fastify route in a
// process of its own: what this machine serves with no Baton at all, so the ratio survives a
// noisy machine. Target (issue 13): a status's p99 ≤ 20 ms at 500 requests per second.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { parse as fromYaml, stringify as toYaml } from 'yaml';
import { freePort, startProcess, type Managed } from '../src/local/processes';
import { REPO_ROOT } from '../src/local/toolchain';
import { MOTO_CREDENTIALS, startStack, type Stack } from '../test/harness/stack';
import { against, fmtMs, type Bench, type BenchReport } from './lib';

const CONNECTIONS = 20;
const TARGET_P99_MS = 20;
const TARGET_RATE = 500;

/** Short soaks, so the finished deployment ends in seconds; the full profile samples as the sandbox does. */
const QUICK_PLAN = { steps: [{ shift: 50 }, { soak: '2s' }, { shift: 100 }], analysis: { interval: '1s', window: '3s' }, keepPreviousFor: '1s', standbyFor: '1s', drainMargin: '1s' };
const FULL_PLAN = {
  steps: [{ shift: 10 }, { soak: '10s' }, { shift: 50 }, { soak: '10s' }, { shift: 100 }],
  analysis: { interval: '2s', window: '6s' },
  keepPreviousFor: '5s',
  standbyFor: '5s',
  drainMargin: '1s',
};

/** A Fastify app with one route and nothing else, in its own process: the machine's ceiling. */
const BARE_FASTIFY = `
const app = require('fastify')();
app.get('/ping', async () => ({ status: 'ok' }));
app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) }).then(() => console.log('bare: listening'));
`;

interface Load {
  what: string;
  url: string;
  /** Requests per second offered in all; none: as fast as 20 connections go. */
  rate?: number;
  method?: 'GET' | 'POST';
  body?: unknown;
  token?: string;
  /** The status every answer should have (a refused action: 409). */
  expect?: number;
}

interface Measured {
  what: string;
  offered: string;
  served: number;
  p50: number;
  p99: number;
  expected: number;
  total: number;
}

async function load(l: Load, seconds: number): Promise<Measured> {
  const headers: Record<string, string> = {};
  if (l.token) headers.authorization = `Bearer ${l.token}`;
  if (l.body !== undefined) headers['content-type'] = 'application/json';
  const r = await autocannon({
    url: l.url,
    method: l.method ?? 'GET',
    headers,
    body: l.body === undefined ? undefined : JSON.stringify(l.body),
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    ...(l.rate ? { overallRate: l.rate } : {}),
  });
  const codes = r.statusCodeStats ?? {};
  const total = Object.values(codes).reduce((n, c) => n + (c?.count ?? 0), 0);
  const expected = codes[String(l.expect ?? 200) as `${number}`]?.count ?? 0;
  return { what: l.what, offered: l.rate ? `${l.rate}/s` : `max (${CONNECTIONS} conn.)`, served: total / r.duration, p50: r.latency.p50, p99: r.latency.p99, expected, total: total + r.errors };
}

async function waitForHttp(url: string, m: Managed, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (m.child.exitCode !== null) throw new Error(`${m.name} exited:\n${m.output()}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${m.name} did not answer ${url} within ${timeoutMs} ms:\n${m.output()}`);
}

/** The API in its own process, reading the stack's config with the rate limit raised out of the way. */
async function startApi(stack: Stack, dir: string): Promise<{ url: string; process: Managed }> {
  const port = await freePort();
  const doc = fromYaml(readFileSync(stack.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
  doc.api = { ...doc.api, host: '127.0.0.1', port, rateLimit: { perAddress: 10_000_000, perToken: 10_000_000 } };
  const configFile = join(dir, 'api.yaml');
  writeFileSync(configFile, toYaml(doc));
  const api = startProcess('api', process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src/api/server.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      BATON_CONFIG: configFile,
      BATON_DECISION_KEY: randomBytes(32).toString('hex'),
      BATON_LOG_LEVEL: 'warn',
      BATON_AWS_ENDPOINT_URL: stack.moto.endpoint,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      ...(stack.codecKeys ? { BATON_CODEC_KEYS: stack.codecKeys } : {}),
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, api, 60_000);
  } catch (err) {
    await api.stop();
    throw err;
  }
  return { url, process: api };
}

async function startBare(): Promise<{ url: string; process: Managed }> {
  const port = await freePort();
  const bare = startProcess('bare-fastify', process.execPath, ['-e', BARE_FASTIFY], { cwd: REPO_ROOT, env: { ...process.env, PORT: String(port) } });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/ping`, bare, 30_000);
  } catch (err) {
    await bare.stop();
    throw err;
  }
  return { url, process: bare };
}

/** One JSON request to the API; throws unless it answers `expect`. */
async function call<T>(url: string, token: string, method: string, body: unknown, expect: number): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expect) throw new Error(`${method} ${url} answered ${res.status} (expected ${expect}): ${text}`);
  return JSON.parse(text) as T;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 1000));

async function run({ quick }: { quick: boolean }): Promise<BenchReport> {
  const seconds = quick ? 2 : 10;
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-api-'));
  const started: Managed[] = [];
  let stack: Stack | null = null;
  const results: Measured[] = [];
  try {
    const bare = await startBare();
    started.push(bare.process);
    stack = await startStack({ plan: quick ? QUICK_PLAN : FULL_PLAN, feeder: true, worker: false, codec: true });
    started.push(await stack.spawnWorker());
    const api = await startApi(stack, dir);
    started.push(api.process);
    const { admin, viewer, developer } = stack.people;

    // A deployment that keeps running: paused from its start, it waits for an operator.
    const running = await call<{ id: string }>(`${api.url}/v1/deployments`, admin, 'POST', { service: 'api', environment: 'dev', version: '1.1.0' }, 201);
    await call(`${api.url}/v1/deployments/${running.id}/actions`, admin, 'POST', { action: 'pause', reason: 'bench: hold it' }, 200);
    // A deployment that has finished: its whole history is there to replay.
    const finished = await call<{ id: string }>(`${api.url}/v1/deployments`, admin, 'POST', { service: 'web', environment: 'dev', version: '1.1.0' }, 201);
    const ended = await until('the deployment of web to dev to finish', () => call<{ outcome: string | null }>(`${api.url}/v1/deployments/${finished.id}`, viewer, 'GET', undefined, 200), (s) => s.outcome !== null, 180_000);
    if (ended.outcome !== 'succeeded') throw new Error(`the deployment of web to dev ended ${ended.outcome}`);
    // A release on its way (dev, then the gates before staging).
    const release = await call<{ id: string }>(`${api.url}/v1/releases`, developer, 'POST', { service: 'web', version: '1.2.0' }, 201);

    const loads: Load[] = [
      { what: 'bare Fastify route (no Baton)', url: `${bare.url}/ping` },
      ...(quick ? [] : [{ what: 'Baton GET /healthz', url: `${api.url}/healthz` }]),
      ...[100, TARGET_RATE, undefined].filter((r) => !quick || r !== 100).flatMap((rate) => [
        { what: 'status of a running deployment', url: `${api.url}/v1/deployments/${running.id}`, token: viewer, rate },
        { what: 'status of a finished deployment', url: `${api.url}/v1/deployments/${finished.id}`, token: viewer, rate },
        { what: 'status of a running release', url: `${api.url}/v1/releases/${release.id}`, token: viewer, rate },
      ]),
      ...[100, undefined].filter((r) => !quick || r !== undefined).map((rate) => ({
        what: 'refused action (pause a paused deployment: 409)',
        url: `${api.url}/v1/deployments/${running.id}/actions`,
        method: 'POST' as const,
        body: { action: 'pause', reason: 'bench' },
        token: admin,
        expect: 409,
        rate,
      })),
    ];
    for (const l of loads) {
      results.push(await load(l, seconds));
      await settle(); // what a slow run left queued drains before the next
    }
  } finally {
    for (const m of started.reverse()) await m.stop().catch(() => undefined);
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const bareRps = results[0].served;
  const table = [
    ['what', 'offered', 'served/s', 'vs bare', 'p50', 'p99', 'as expected'],
    ...results.map((m) => [m.what, m.offered, m.served.toFixed(0), `${((m.served / bareRps) * 100).toFixed(1)} %`, fmtMs(m.p50), fmtMs(m.p99), `${m.expected}/${m.total}`]),
  ];
  const at = (what: string, offered: string) => results.find((m) => m.what.startsWith(what) && m.offered === offered);
  const max = `max (${CONNECTIONS} conn.)`;
  const rate = `${TARGET_RATE}/s`;
  const figures = {
    bareRps: Math.round(bareRps),
    runningP99MsAt500: at('status of a running deployment', rate)?.p99,
    finishedP99MsAt500: at('status of a finished deployment', rate)?.p99,
    releaseP99MsAt500: at('status of a running release', rate)?.p99,
    runningMaxRps: Math.round(at('status of a running deployment', max)?.served ?? NaN),
    finishedMaxRps: Math.round(at('status of a finished deployment', max)?.served ?? NaN),
    releaseMaxRps: Math.round(at('status of a running release', max)?.served ?? NaN),
    actionP99MsAt100: at('refused action', '100/s')?.p99,
    actionMaxRps: at('refused action', max) ? Math.round(at('refused action', max)!.served) : undefined,
  };
  const notes = ['running deployment', 'finished deployment', 'running release'].map((k) => {
    const m = at(`status of a ${k}`, rate);
    const servedAll = m ? m.served >= TARGET_RATE * 0.95 : false;
    return `${against(m?.p99 ?? Infinity, TARGET_P99_MS, `status of a ${k}: p99 (ms) at ${TARGET_RATE}/s offered`)}${servedAll ? '' : `, and only ${m?.served.toFixed(0)}/s served`}`;
  });
  notes.push(`autocannon, ${CONNECTIONS} connections, ${seconds} s per row, on loopback; the API, the worker and Temporal each in their own process. "vs bare": served rate over the bare Fastify route's, in this run.`);
  return { table, figures, notes };
}

export const apiBench: Bench = { name: 'api', what: 'requests per second and p99 of status reads and actions through the API, beside a bare Fastify route', run };
