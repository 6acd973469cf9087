// How much one worker carries: N deployments of N distinct services running at once (N = 200 on
// one worker, 500 on two), arriving two ways: in a burst (all started together, with a plan packed
// into seconds: a flood that shows throughput and the worst case) and steady (started evenly over
// a minute, soaking for minutes, as a Tuesday's deployments overlap), each service with its own
// ECS cluster and blue/green services and its own ALB target groups or Route 53 weighted
// records, seeded into moto; the worker in its own process (`tsx src/worker.ts`, as in
// production). Measured while they run:
// - completion: the start of the first → every deployment live (its lane frees at 100 %
//   verified), and → every deployment succeeded (its short tail done);
// - an operator action's round trip: pause then resume (Updates, the client's executeUpdate,
//   as the API sends them) on random deployments not yet live, throughout; beside it, in the
//   same run, the same round trip on an idle worker (one deployment soaking, nothing else);
// - workflow-task schedule-to-start: WorkflowTaskScheduled → WorkflowTaskStarted in the
//   histories of a sample of the runs (how long a decision waited for the worker);
// - the worker's peak RSS (VmHWM in /proc) and CPU time; and, to tell where a miss comes from,
//   the CPU time of the Temporal server, moto, this process and the whole machine over the load,
//   the Temporal server's own latencies (its Prometheus metrics), and what one deployment's
//   history holds (workflow tasks, activities by type).
// Two workers serve the same task queue. Then the release train: T releases waiting
// at prod's train gate, the train triggered: departure → every release boarded → every one live.
//
// Each run has a fresh Temporal dev server and fresh workers; moto is seeded once for the whole
// benchmark (each run deploys a new version). Analysis reads a stand-in for CloudWatch: a small
// proxy in front of moto that answers GetMetricData for a healthy colour (50 requests/s, no 5xx,
// 80 ms) and forwards every other call to moto. The worker still makes every metrics call over
// HTTP through the SDK; only moto's CloudWatch is left out: the sandbox's feeder, writing
// datapoints for 500 services every second, would load moto (one Python process on the same two
// cores), not Baton.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { resolveConfig, type BatonConfig } from '../src/config';
import { startProcess, type Managed } from '../src/local/processes';
import { startMoto, startTemporalDevServer, type MotoServer, type TemporalDevServer } from '../src/local/servers';
import { REPO_ROOT } from '../src/local/toolchain';
import { startControlServer } from '../src/sandbox/control';
import { FaultStore } from '../src/sandbox/faults';
import { newToken, sandboxConfigDoc, sandboxPeople } from '../src/sandbox/sandbox-config';
import { seedTarget, SANDBOX_REGIONS, type SandboxRouter, type SeededTarget } from '../src/sandbox/seed';
import { actOnDeployment, buildDeploymentSpec, ConflictError, startDeployment } from '../src/temporal/deployments';
import { buildReleaseInput, startRelease } from '../src/temporal/releases';
import { triggerTrain } from '../src/temporal/schedules';
import type { DeploymentResult } from '../workflows/deployment';
import type { TrainStatus } from '../workflows/messages';
import { quietWorkerLogs } from '../test/harness/servers';
import { MOTO_CREDENTIALS } from '../test/harness/stack';
import { against, fmtMs, median, percentile, type Bench, type BenchReport } from './lib';

const TARGET_ACTION_P95_MS = 250;
const TARGET_RSS_MIB = 1024;

/**
 * How the N deployments arrive. `burst`: all at once with a plan packed into seconds (5 s soak,
 * keep and standby), a flood that shows throughput and the worst case. `steady`: started evenly
 * over a ramp, each soaking for minutes with a sample every quarter of the soak, as a Tuesday's
 * deployments overlap: every one of the N is running at once for most of the run.
 */
type Regime = 'burst' | 'steady';

interface RegimeShape {
  /** Seconds: the soak, the analysis interval (and window), keep, standby. */
  soak: number;
  interval: number;
  keep: number;
  standby: number;
  /** Starts spread evenly over this many ms (0: all at once). */
  rampMs: number;
}

/** Steady arrivals: a deployment starts every this many ms (200 in a minute). */
const STEADY_ARRIVAL_MS = 300;

function shapeOf(regime: Regime, quick: boolean, n: number): RegimeShape {
  if (regime === 'burst') return quick ? { soak: 2, interval: 2, keep: 2, standby: 1, rampMs: 0 } : { soak: 5, interval: 5, keep: 5, standby: 5, rampMs: 0 };
  if (quick) return { soak: 8, interval: 2, keep: 2, standby: 1, rampMs: 2_000 };
  // The soak lasts twice the ramp, so the first deployment still soaks when the last starts.
  const rampMs = n * STEADY_ARRIVAL_MS;
  const soak = Math.max(120, Math.round((2 * rampMs) / 1000));
  return { soak, interval: soak / 4, keep: 30, standby: 10, rampMs };
}

/** The rollout every service runs: one shift to 50 %, a soak with passing samples, 100 %, a short tail. */
function planFor(shape: RegimeShape): Record<string, unknown> {
  return {
    steps: [{ shift: 50 }, { soak: `${shape.soak}s` }, { shift: 100 }],
    analysis: { interval: `${shape.interval}s`, window: `${shape.interval}s`, failureLimit: 1, inconclusiveLimit: 3, lag: '0s' },
    keepPreviousFor: `${shape.keep}s`,
    standbyFor: `${shape.standby}s`,
    standbyCount: 1,
    stableTimeout: '2m',
    drainMargin: '1s',
  };
}

const describeShape = (x: RegimeShape) =>
  `${x.rampMs ? `started evenly over ${x.rampMs / 1000} s` : 'all started at once'}; shift 50 %, soak ${x.soak} s (a sample every ${x.interval} s), shift 100 %, keep ${x.keep} s, standby ${x.standby} s, retire`;

/** The idle baseline's plan: a soak long enough to act on it at leisure (one sample a minute). */
const IDLE_PLAN = {
  steps: [{ shift: 50 }, { soak: '1h' }, { shift: 100 }],
  analysis: { interval: '1m', window: '1m', failureLimit: 1, inconclusiveLimit: 3, lag: '0s' },
  keepPreviousFor: '1m',
  standbyFor: '1m',
  standbyCount: 1,
  stableTimeout: '2m',
  drainMargin: '1s',
};

const SCALE_ENV = 'dev';
const IDLE_ENV = 'idle';
const TRAIN_ENV = 'prod';
/** Seeding runs this many targets at a time (moto is one Python process: more only queue). */
const SEED_CONCURRENCY = 8;
/** Pause between two operator actions of the sampler: a busy on-call engineer, not a load test. */
const ACTION_GAP_MS = 150;

interface ScaleRun {
  regime: Regime;
  n: number;
  workers: number;
}

interface Profile {
  runs: ScaleRun[];
  train: number;
  idleCycles: number;
  historySample: number;
  timeoutMs: number;
}

const QUICK: Profile = { runs: [{ regime: 'burst', n: 10, workers: 1 }, { regime: 'steady', n: 10, workers: 1 }], train: 10, idleCycles: 10, historySample: 10, timeoutMs: 120_000 };
const FULL: Profile = {
  runs: [
    { regime: 'burst', n: 200, workers: 1 },
    { regime: 'steady', n: 200, workers: 1 },
    { regime: 'burst', n: 500, workers: 2 },
    { regime: 'steady', n: 500, workers: 2 },
  ],
  train: 200,
  idleCycles: 30,
  historySample: 40,
  timeoutMs: 12 * 60_000,
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const pad = (i: number) => String(i).padStart(4, '0');
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- the CloudWatch stand-in

interface MetricsProxy {
  endpoint: string;
  /** GetMetricData calls answered, other calls forwarded. */
  counts(): { answered: number; forwarded: number };
  stop(): Promise<void>;
}

/** A healthy colour's datapoint for one query, by the metric it names (ALB or the sandbox's own). */
function healthyValue(metricName: string, windowSeconds: number): number {
  if (/5xx|error/i.test(metricName)) return 0;
  if (metricName === 'TargetResponseTime') return 0.08; // seconds
  if (/latency/i.test(metricName)) return 80; // milliseconds
  return 50 * windowSeconds; // requests
}

interface MetricDataRequest {
  MetricDataQueries?: Array<{ Id?: string; MetricStat?: { Metric?: { MetricName?: string } } }>;
  /** Epoch seconds. */
  StartTime?: number;
  EndTime?: number;
}

/** GetMetricData's answer (AWS JSON 1.0, what the SDK's CloudWatch client speaks): one healthy datapoint per query. */
function metricDataJson(req: MetricDataRequest): string {
  const windowSeconds = req.StartTime !== undefined && req.EndTime !== undefined ? Math.max(1, req.EndTime - req.StartTime) : 60;
  const at = (req.EndTime ?? Date.now() / 1000) - 1;
  return JSON.stringify({
    MetricDataResults: (req.MetricDataQueries ?? []).map((q) => {
      const metric = q.MetricStat?.Metric?.MetricName ?? '';
      return { Id: q.Id, Label: metric, StatusCode: 'Complete', Timestamps: [at], Values: [healthyValue(metric, windowSeconds)] };
    }),
    Messages: [],
  });
}

/** Connection-level headers, which each hop sets for itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

async function startMetricsProxy(moto: MotoServer): Promise<MetricsProxy> {
  const target = new URL(moto.endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let answered = 0;
  let forwarded = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (req.headers['x-amz-target'] === 'GraniteServiceVersion20100801.GetMetricData') {
      answered++;
      const json = metricDataJson(JSON.parse(body.toString('utf8') || '{}') as MetricDataRequest);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(json) });
      res.end(json);
      return;
    }
    forwarded++;
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
    const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...headers, host: target.host, 'content-length': body.length }, agent }, (answer) => {
      const back = Object.fromEntries(Object.entries(answer.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
      res.writeHead(answer.statusCode ?? 502, back);
      answer.pipe(res);
    });
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`scale bench proxy: ${err.message}`);
    });
    out.end(body);
  };
  const server = createServer((req, res) => void handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(String(err));
  }));
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts: () => ({ answered, forwarded }),
    async stop() {
      server.closeAllConnections();
      server.close();
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------- seeding

interface TargetRequest {
  service: string;
  environment: string;
  router: SandboxRouter;
}

/** Seeds the targets, SEED_CONCURRENCY at a time; the first of each router alone (they create the shared VPC and hosted zone). */
async function seedAll(endpoint: string, wanted: TargetRequest[]): Promise<SeededTarget[]> {
  const out: SeededTarget[] = new Array<SeededTarget>(wanted.length);
  const one = async (i: number) => {
    out[i] = await seedTarget({ endpoint, credentials: MOTO_CREDENTIALS, region: SANDBOX_REGIONS.primary, ...wanted[i] });
  };
  const firsts = (['alb', 'route53'] as const).map((r) => wanted.findIndex((w) => w.router === r)).filter((i) => i >= 0);
  for (const i of firsts) await one(i);
  const rest = wanted.map((_, i) => i).filter((i) => !firsts.includes(i));
  await pool(rest, SEED_CONCURRENCY, one);
  return out;
}

/** Runs `fn` over `items`, at most `width` at a time. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

// ---------------------------------------------------------------- config and workers

interface Setup {
  dir: string;
  controlUrl: string;
  proxy: MetricsProxy;
  motoPid: number;
}

/** A config with exactly these targets; every environment runs `plan`, except `idle`, which runs IDLE_PLAN. */
function writeConfig(setup: Setup, name: string, targets: SeededTarget[], plan: Record<string, unknown>, trainConcurrency: number): { config: BatonConfig; file: string } {
  const people = sandboxPeople(newToken());
  const peopleFile = join(setup.dir, `${name}-people.json`);
  writeFileSync(peopleFile, JSON.stringify(people));
  const taskQueue = `baton-scale-${name}-${newToken().slice(0, 6)}`;
  const doc = sandboxConfigDoc({ targets, people, controlUrl: setup.controlUrl, peopleFile, apiPort: 0, taskQueue, plan });
  const environments = doc.environments as Record<string, Record<string, unknown>>;
  if (environments[IDLE_ENV]) {
    (doc.plans as Record<string, unknown>).idle = IDLE_PLAN;
    environments[IDLE_ENV] = { plan: 'idle', gate: null };
  }
  // Prod's gate is the train alone, so a release waits for nothing but its departure; the train
  // takes every waiting release at once, in no particular service order.
  if (environments[TRAIN_ENV]) environments[TRAIN_ENV] = { plan: 'sandbox', gate: { train: true } };
  const trains = doc.trains as Record<string, Record<string, unknown>>;
  if (trains[TRAIN_ENV]) trains[TRAIN_ENV] = { ...trains[TRAIN_ENV], concurrency: trainConcurrency, order: [] };
  const file = join(setup.dir, `${name}.yaml`);
  writeFileSync(file, toYaml(doc));
  return { config: resolveConfig(doc), file };
}

interface WorkerProcess {
  managed: Managed;
  pid: number;
  /** VmRSS samples (bytes), every SAMPLE_MS while it runs. */
  rss: number[];
  stopSampling(): void;
}

const SAMPLE_MS = 250;

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds the process has used. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

async function spawnWorker(name: string, configFile: string, temporalAddress: string, awsEndpoint: string): Promise<WorkerProcess> {
  const managed = startProcess(name, process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src/worker.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      BATON_CONFIG: configFile,
      BATON_AWS_ENDPOINT_URL: awsEndpoint,
      BATON_LOG_LEVEL: 'warn',
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_REGION: SANDBOX_REGIONS.primary,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
    },
  });
  const deadline = Date.now() + 120_000;
  while (!/serving task queue/.test(managed.output())) {
    if (managed.child.exitCode !== null || managed.child.signalCode !== null || Date.now() > deadline) {
      await managed.stop();
      throw new Error(`scale bench: ${name} did not start:\n${managed.output()}`);
    }
    await sleep(200);
  }
  const pid = managed.child.pid!;
  const rss: number[] = [];
  const timer = setInterval(() => {
    const v = procStatus(pid, 'VmRSS');
    if (Number.isFinite(v)) rss.push(v);
  }, SAMPLE_MS);
  return { managed, pid, rss, stopSampling: () => clearInterval(timer) };
}

// ---------------------------------------------------------------- measuring

interface HistoryFigures {
  /** Each workflow task's wait for a worker: WorkflowTaskScheduled → WorkflowTaskStarted, ms. */
  wftMs: number[];
  /** Per history, on average: events, workflow tasks, activities (by type). */
  events: number;
  workflowTasks: number;
  /** Per history, on average: workflow tasks that timed out (a sticky queue's schedule-to-start, or a start-to-close) or failed. */
  workflowTaskTimeouts: number;
  workflowTaskFailures: number;
  activities: Record<string, number>;
}

/** What the histories of these runs show: how long their workflow tasks waited, and what one run costs Temporal. */
async function fromHistories(client: Client, ids: string[]): Promise<HistoryFigures> {
  const EventType = temporal.api.enums.v1.EventType;
  const at = (e: temporal.api.history.v1.IHistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  const out: number[] = [];
  let events = 0;
  let workflowTasks = 0;
  let workflowTaskTimeouts = 0;
  let workflowTaskFailures = 0;
  const activities: Record<string, number> = {};
  await pool(ids, 8, async (id) => {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const scheduled = new Map<number, number>();
    events += history.events?.length ?? 0;
    for (const e of history.events ?? []) {
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) workflowTasks++;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) workflowTaskTimeouts++;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) workflowTaskFailures++;
      const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (activity) activities[activity] = (activities[activity] ?? 0) + 1;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) scheduled.set(Number(e.eventId), at(e));
      const started = e.workflowTaskStartedEventAttributes;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED && started) {
        const s = scheduled.get(Number(started.scheduledEventId));
        if (s !== undefined) out.push(at(e) - s);
      }
    }
  });
  const per = (x: number) => x / Math.max(1, ids.length);
  return { wftMs: out, events: per(events), workflowTasks: per(workflowTasks), workflowTaskTimeouts: per(workflowTaskTimeouts), workflowTaskFailures: per(workflowTaskFailures), activities: Object.fromEntries(Object.entries(activities).map(([k, v]) => [k, per(v)])) };
}

/** A sample of `k` of `xs`, spread evenly. */
function spread<T>(xs: readonly T[], k: number): T[] {
  if (xs.length <= k) return [...xs];
  return Array.from({ length: k }, (_, i) => xs[Math.floor((i * xs.length) / k)]);
}

interface ActionTimes {
  /** Round trips of accepted pauses and resumes, ms. */
  accepted: number[];
  /** Pauses refused (the deployment had gone live meanwhile): round trips, ms. */
  refused: number[];
}

/** One pause → resume on `id`; false when the pause was refused (nothing to resume). */
async function pauseResume(client: Client, id: string, times: ActionTimes): Promise<boolean> {
  const act = async (action: 'pause' | 'resume') => {
    const t = process.hrtime.bigint();
    try {
      await actOnDeployment(client, id, { action, actor: 'ada', reason: 'scale bench' });
      times.accepted.push(Number(process.hrtime.bigint() - t) / 1e6);
      return true;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      times.refused.push(Number(process.hrtime.bigint() - t) / 1e6);
      return false;
    }
  };
  if (!(await act('pause'))) return false;
  // A pause accepted is resumed at once: a refusal here would leave the deployment paused.
  if (!(await act('resume'))) throw new Error(`scale bench: ${id} accepted a pause but refused the resume`);
  return true;
}

interface RunFigures {
  label: string;
  regime: Regime;
  n: number;
  workers: number;
  /** Deployments running when the last one had started. */
  concurrent: number;
  allStartedMs: number;
  allLiveMs: number;
  allDoneMs: number;
  startP95Ms: number;
  actions: ActionTimes;
  idle: ActionTimes;
  wftMs: number[];
  histories: HistoryFigures;
  /** Per worker: VmHWM, the RSS when it was idle (before the load), bytes; CPU seconds under load. */
  peakRss: number[];
  idleRss: number[];
  cpuSeconds: number[];
  /** CPU seconds of the rest while the load ran: where the machine's two cores went. */
  others: OthersCpu;
  /** The Temporal server's own view of the load: operations by total time. */
  server: ReturnType<typeof latencyDelta>;
  failed: string[];
}

/** Sums and counts of the Temporal server's latency histograms, by metric, service and operation. */
type ServerLatencies = Map<string, { sum: number; count: number }>;

/** Reads the dev server's Prometheus metrics (it was started with --metrics-port). */
async function serverLatencies(server: TemporalDevServer): Promise<ServerLatencies> {
  const args = server.process.child.spawnargs;
  const port = args[args.indexOf('--metrics-port') + 1];
  const out: ServerLatencies = new Map();
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) {
      const m = /^(service_latency|persistence_latency)_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/.exec(line);
      if (!m) continue;
      const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(m[3])?.[1] ?? '';
      const key = `${m[1] === 'service_latency' ? label('service_name') : 'persistence'} ${label('operation')}`;
      const entry = out.get(key) ?? { sum: 0, count: 0 };
      entry[m[2] as 'sum' | 'count'] += Number(m[4]);
      out.set(key, entry);
    }
  } catch {
    /* no metrics: the notes say so */
  }
  return out;
}

/** Mean latency (ms) and calls per operation between two readings, the operations that took the most time first. */
function latencyDelta(before: ServerLatencies, after: ServerLatencies): Array<{ key: string; meanMs: number; calls: number; totalS: number }> {
  return [...after.entries()]
    .map(([key, a]) => {
      const b = before.get(key) ?? { sum: 0, count: 0 };
      const calls = a.count - b.count;
      const totalS = a.sum - b.sum; // seconds
      return { key, meanMs: calls > 0 ? (1000 * totalS) / calls : 0, calls, totalS };
    })
    .filter((x) => x.calls > 0 && !/Poll|GetWorkflowExecutionHistory/.test(x.key))
    .sort((x, y) => y.totalS - x.totalS);
}

interface OthersCpu {
  wallSeconds: number;
  temporal: number;
  moto: number;
  /** This process: the client starting, acting and counting, and the metrics stand-in. */
  bench: number;
  /** Every process on the machine (other people's too). */
  machine: number;
}

/** CPU seconds the whole machine has been busy (all cores). */
function machineBusySeconds(): number {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const idle = ticks[3] + (ticks[4] ?? 0);
    return (ticks.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / 100;
  } catch {
    return NaN;
  }
}

/** Starts counting the CPU of the Temporal server, moto and this process; the function returns what they used since. */
function countOthers(phase: Phase, setup: Setup): () => OthersCpu {
  const temporalPid = phase.temporal.process.child.pid!;
  const t0 = Date.now();
  const temporal0 = cpuSeconds(temporalPid);
  const moto0 = cpuSeconds(setup.motoPid);
  const self0 = process.cpuUsage();
  const machine0 = machineBusySeconds();
  return () => {
    const self = process.cpuUsage(self0);
    return {
      wallSeconds: (Date.now() - t0) / 1000,
      temporal: cpuSeconds(temporalPid) - temporal0,
      moto: cpuSeconds(setup.motoPid) - moto0,
      bench: (self.user + self.system) / 1e6,
      machine: machineBusySeconds() - machine0,
    };
  };
}

interface Phase {
  temporal: TemporalDevServer;
  client: Client;
  connection: Connection;
  workers: WorkerProcess[];
}

async function startPhase(setup: Setup, name: string, configFile: string, workers: number): Promise<Phase> {
  const temporalServer = await startTemporalDevServer();
  let connection: Connection | null = null;
  const started: WorkerProcess[] = [];
  try {
    connection = await Connection.connect({ address: temporalServer.address, connectTimeout: '30s' });
    const client = new Client({ connection });
    // One at a time: the second waits until the first has created the release trains' schedules.
    for (let i = 1; i <= workers; i++) started.push(await spawnWorker(`${name}-worker-${i}`, configFile, temporalServer.address, setup.proxy.endpoint));
    return { temporal: temporalServer, client, connection, workers: started };
  } catch (err) {
    for (const w of started) {
      w.stopSampling();
      await w.managed.stop();
    }
    await connection?.close();
    await temporalServer.stop();
    throw err;
  }
}

/** Stops the phase's workers (reading their peak RSS first), its client and its Temporal server. */
async function stopPhase(phase: Phase): Promise<number[]> {
  const peaks = phase.workers.map((w) => procStatus(w.pid, 'VmHWM'));
  for (const w of phase.workers) {
    w.stopSampling();
    await w.managed.stop().catch((err: unknown) => console.error('scale bench: stopping a worker failed:', err));
  }
  await phase.connection.close().catch(() => undefined);
  await phase.temporal.stop();
  return peaks;
}

/** The same pause → resume on one deployment soaking on an otherwise idle worker. */
async function idleBaseline(client: Client, config: BatonConfig, taskQueue: string, service: string, version: string, cycles: number): Promise<ActionTimes> {
  const spec = buildDeploymentSpec(config, { service, environment: IDLE_ENV, version, requestedBy: 'ada' });
  const { id } = await startDeployment(client, taskQueue, spec);
  const handle = client.workflow.getHandle(id);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const d = await handle.query<{ phase: string }>('status');
    if (d.phase === 'soaking') break;
    if (Date.now() > deadline) throw new Error(`scale bench: the idle baseline's deployment never soaked (phase ${d.phase})`);
    await sleep(200);
  }
  const times: ActionTimes = { accepted: [], refused: [] };
  for (let i = 0; i < cycles; i++) {
    if (!(await pauseResume(client, id, times))) throw new Error(`scale bench: the idle baseline's deployment refused a pause`);
    await sleep(ACTION_GAP_MS);
  }
  // It is not part of the load: gone before the load starts (terminating needs no worker).
  await handle.terminate('scale bench: idle baseline measured');
  return times;
}

/** Counts this query's workflows, through visibility. */
async function count(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}

async function scaleRun(setup: Setup, targets: SeededTarget[], idleTarget: SeededTarget, run: ScaleRun, index: number, profile: Profile, quick: boolean): Promise<RunFigures> {
  const shape = shapeOf(run.regime, quick, run.n);
  const arrival = shape.rampMs ? `over ${shape.rampMs / 1000} s` : 'at once';
  const label = `${run.n} ${arrival} (${run.regime}), ${run.workers} worker${run.workers > 1 ? 's' : ''}`;
  const name = `run${index + 1}`;
  const { config, file } = writeConfig(setup, name, [...targets.slice(0, run.n), idleTarget], planFor(shape), 1);
  const taskQueue = config.temporal.taskQueue;
  const version = `1.${index + 1}.0`;
  const t0Setup = Date.now();
  const phase = await startPhase(setup, name, file, run.workers);
  const { client } = phase;
  console.log(`scale: ${label}: Temporal and worker(s) up in ${fmtMs(Date.now() - t0Setup)}`);
  let peakRss: number[] = [];
  try {
    const idle = await idleBaseline(client, config, taskQueue, idleTarget.service, version, profile.idleCycles);
    const idleRss = phase.workers.map((w) => procStatus(w.pid, 'VmRSS'));
    const cpu0 = phase.workers.map((w) => cpuSeconds(w.pid));
    const others = countOthers(phase, setup);
    const latencies0 = await serverLatencies(phase.temporal);
    console.log(`scale: ${label}: idle action p50 ${fmtMs(median(idle.accepted))}, p95 ${fmtMs(percentile(idle.accepted, 95))}`);

    // Every deployment at once; the sampler acts on those that have started and are not live yet.
    const services = targets.slice(0, run.n).map((t) => t.service);
    const candidates: string[] = [];
    const startTimes: number[] = [];
    const actions: ActionTimes = { accepted: [], refused: [] };
    let sampling = true;
    const t0 = Date.now();
    const starts = Promise.all(services.map(async (service, i) => {
      await sleep(t0 + (shape.rampMs * i) / run.n - Date.now());
      const spec = buildDeploymentSpec(config, { service, environment: SCALE_ENV, version, requestedBy: 'ada' });
      const t = process.hrtime.bigint();
      const { id } = await startDeployment(client, taskQueue, spec);
      startTimes.push(Number(process.hrtime.bigint() - t) / 1e6);
      candidates.push(id);
    })).then(() => Date.now() - t0);
    const sampler = (async () => {
      while (sampling) {
        if (candidates.length === 0) {
          await sleep(50);
          continue;
        }
        const i = Math.floor(Math.random() * candidates.length);
        const id = candidates[i];
        if (!(await pauseResume(client, id, actions))) candidates.splice(i, 1);
        await sleep(ACTION_GAP_MS);
      }
    })();
    const envQuery = `BatonEnvironment = '${SCALE_ENV}'`;
    let allStartedMs = NaN;
    let concurrent = NaN;
    try {
      allStartedMs = await starts;
      concurrent = await count(client, `WorkflowType = 'deployment' AND ${envQuery} AND ExecutionStatus = 'Running'`);
      console.log(`scale: ${label}: all ${run.n} started in ${fmtMs(allStartedMs)} (start p95 ${fmtMs(percentile(startTimes, 95))}); ${concurrent} running then`);
      const deadline = t0 + profile.timeoutMs;
      let lastLog = 0;
      for (;;) {
        const live = await count(client, `WorkflowType = 'deploymentLane' AND ${envQuery} AND ExecutionStatus != 'Running'`);
        const done = await count(client, `WorkflowType = 'deployment' AND ${envQuery} AND ExecutionStatus != 'Running'`);
        if (live >= run.n) sampling = false; // nothing left to pause
        if (done >= run.n) break;
        if (Date.now() > deadline) throw new Error(`scale bench: ${label}: after ${fmtMs(Date.now() - t0)}, ${live} of ${run.n} live, ${done} ended`);
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          console.log(`scale: ${label}: ${fmtMs(Date.now() - t0)}: ${live} live, ${done} ended, ${actions.accepted.length} actions (p95 ${fmtMs(percentile(actions.accepted, 95))}), RSS ${phase.workers.map((w) => `${Math.round(procStatus(w.pid, 'VmRSS') / MiB)} MiB`).join(' + ')}`);
        }
        await sleep(500);
      }
    } finally {
      sampling = false;
      await sampler;
    }
    const cpu = phase.workers.map((w, i) => cpuSeconds(w.pid) - cpu0[i]);
    const othersCpu = others();
    const server = latencyDelta(latencies0, await serverLatencies(phase.temporal));

    // When each went live (the workflow's own instant) and ended (its close time), and how.
    const ids = [...candidates];
    const liveAt: number[] = [];
    const failed: string[] = [];
    const closes: number[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowType = 'deployment' AND ${envQuery}` })) {
      if (wf.closeTime) closes.push(wf.closeTime.getTime());
      if (!ids.includes(wf.workflowId)) ids.push(wf.workflowId);
    }
    await pool(ids, 16, async (id) => {
      try {
        const r = await client.workflow.getHandle(id).result() as DeploymentResult;
        if (r.liveAt) liveAt.push(Date.parse(r.liveAt));
      } catch (err) {
        // A deployment that rolled back or failed: the cause says why.
        const cause = (err as { cause?: Error }).cause;
        failed.push(`${id}: ${cause?.message ?? (err as Error).message}`);
      }
    });
    const histories = await fromHistories(client, spread(ids.sort(), profile.historySample));
    peakRss = await stopPhase(phase);
    return {
      label,
      regime: run.regime,
      n: run.n,
      workers: run.workers,
      concurrent,
      allStartedMs,
      allLiveMs: liveAt.length === run.n ? Math.max(...liveAt) - t0 : NaN,
      allDoneMs: Math.max(...closes) - t0,
      startP95Ms: percentile(startTimes, 95),
      actions,
      idle,
      wftMs: histories.wftMs,
      histories,
      peakRss,
      idleRss,
      cpuSeconds: cpu,
      others: othersCpu,
      server,
      failed,
    };
  } finally {
    if (peakRss.length === 0) await stopPhase(phase);
  }
}

interface TrainFigures {
  releases: number;
  waitingMs: number;
  boardedMs: number;
  liveMs: number;
  endedMs: number;
  boarded: number;
  live: number;
  /** Between two boardings (workflow time), ms. */
  boardGaps: number[];
  peakRss: number;
  idleRss: number;
  cpuSeconds: number;
}

async function trainRun(setup: Setup, targets: SeededTarget[], quick: boolean): Promise<TrainFigures> {
  const { config, file } = writeConfig(setup, 'train', targets, planFor(shapeOf('burst', quick, targets.length)), targets.length);
  const taskQueue = config.temporal.taskQueue;
  const phase = await startPhase(setup, 'train', file, 1);
  const { client } = phase;
  let peak: number[] = [];
  try {
    const idleRss = procStatus(phase.workers[0].pid, 'VmRSS');
    const cpu0 = cpuSeconds(phase.workers[0].pid);
    const t0 = Date.now();
    await Promise.all(targets.map((t) => startRelease(client, taskQueue, buildReleaseInput(config, { service: t.service, version: '2.0.0', requestedBy: 'ada' }))));
    const waitingQuery = `BatonKind = 'release' AND BatonPhase = 'waiting_for_train' AND ExecutionStatus = 'Running'`;
    const deadline = Date.now() + 300_000;
    while ((await count(client, waitingQuery)) < targets.length) {
      if (Date.now() > deadline) throw new Error(`scale bench: the ${targets.length} releases never all waited for the train`);
      await sleep(250);
    }
    const waitingMs = Date.now() - t0;
    console.log(`scale: train: ${targets.length} releases waiting for the train after ${fmtMs(waitingMs)}`);
    const departure = Date.now();
    await triggerTrain(client, `train-${TRAIN_ENV}`);
    let trainId: string | null = null;
    while (!trainId) {
      for await (const wf of client.workflow.list({ query: `WorkflowType = 'releaseTrain'` })) trainId = wf.workflowId;
      if (!trainId) await sleep(100);
    }
    const status = (await client.workflow.getHandle(trainId).result()) as TrainStatus;
    const cpu = cpuSeconds(phase.workers[0].pid) - cpu0;
    const departed = status.boardings.filter((b) => b.state === 'departed').map((b) => Date.parse(b.at)).sort((a, b) => a - b);
    const live = status.boardings.filter((b) => b.state === 'live').map((b) => Date.parse(b.at));
    const gaps = departed.slice(1).map((t, i) => t - departed[i]);
    peak = await stopPhase(phase);
    return {
      releases: targets.length,
      waitingMs,
      boardedMs: Math.max(...departed) - departure,
      liveMs: live.length ? Math.max(...live) - departure : NaN,
      endedMs: Date.parse(status.endedAt ?? '') - departure,
      boarded: departed.length,
      live: live.length,
      boardGaps: gaps,
      peakRss: peak[0],
      idleRss,
      cpuSeconds: cpu,
    };
  } finally {
    if (peak.length === 0) await stopPhase(phase);
  }
}

// ---------------------------------------------------------------- the benchmark

const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

/**
 * The profile, narrowed by the environment when asked: `BENCH_SCALE_RUNS=steady:200x1,burst:500x2`
 * runs only those (regime: N × workers; `none`: the train alone), `BENCH_SCALE_TRAIN=0` skips the train (or sets its size).
 */
function profileOf(quick: boolean, env: NodeJS.ProcessEnv = process.env): Profile {
  const base = quick ? QUICK : FULL;
  const runs = env.BENCH_SCALE_RUNS === 'none'
    ? []
    : env.BENCH_SCALE_RUNS
    ? env.BENCH_SCALE_RUNS.split(',').map((r) => {
      const m = /^\s*(burst|steady):(\d+)x(\d+)\s*$/.exec(r);
      if (!m) throw new Error(`scale bench: BENCH_SCALE_RUNS: '${r}' is not <burst|steady>:<deployments>x<workers>, e.g. steady:200x1`);
      return { regime: m[1] as Regime, n: Number(m[2]), workers: Number(m[3]) };
    })
    : base.runs;
  const train = env.BENCH_SCALE_TRAIN === undefined ? base.train : Number(env.BENCH_SCALE_TRAIN);
  if (!Number.isInteger(train) || train < 0) throw new Error(`scale bench: BENCH_SCALE_TRAIN: '${env.BENCH_SCALE_TRAIN}' is not a number of releases`);
  return { ...base, runs, train };
}

async function run({ quick }: { quick: boolean }): Promise<BenchReport> {
  const profile = profileOf(quick);
  quietWorkerLogs();
  const maxN = Math.max(0, ...profile.runs.map((r) => r.n));
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-scale-'));
  const cleanups: Array<() => Promise<void>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const runs: RunFigures[] = [];
  let train: TrainFigures | null = null;
  let seedMs = 0;
  let proxyCounts = { answered: 0, forwarded: 0 };
  try {
    const moto = await startMoto();
    cleanups.push(() => moto.stop());
    const control = await startControlServer({ faults: new FaultStore() });
    cleanups.push(() => control.stop());
    const proxy = await startMetricsProxy(moto);
    cleanups.push(() => proxy.stop());
    const setup: Setup = { dir, controlUrl: control.url, proxy, motoPid: moto.process.child.pid! };

    // Half the services behind an ALB, half behind Route 53 weighted records.
    const router = (i: number): SandboxRouter => (i % 2 ? 'route53' : 'alb');
    const wanted: TargetRequest[] = [
      ...Array.from({ length: maxN }, (_, i) => ({ service: `svc-${pad(i + 1)}`, environment: SCALE_ENV, router: router(i) })),
      ...profile.runs.map((_, i) => ({ service: `idle-${i + 1}`, environment: IDLE_ENV, router: 'alb' as const })),
      ...Array.from({ length: profile.train }, (_, i) => ({ service: `trn-${pad(i + 1)}`, environment: TRAIN_ENV, router: router(i) })),
    ];
    const t0 = Date.now();
    const seeded = await seedAll(moto.endpoint, wanted);
    seedMs = Date.now() - t0;
    console.log(`scale: seeded ${seeded.length} targets into moto in ${fmtMs(seedMs)} (${(seeded.length / (seedMs / 1000)).toFixed(1)} a second, ${SEED_CONCURRENCY} at a time)`);
    const scaleTargets = seeded.filter((t) => t.environment === SCALE_ENV);
    const idleTargets = seeded.filter((t) => t.environment === IDLE_ENV);
    const trainTargets = seeded.filter((t) => t.environment === TRAIN_ENV);

    for (const [i, r] of profile.runs.entries()) {
      const figures = await scaleRun(setup, scaleTargets, idleTargets[i], r, i, profile, quick);
      runs.push(figures);
      console.log(`scale: ${figures.label}: all live ${fmtMs(figures.allLiveMs)}, action p95 ${fmtMs(percentile(figures.actions.accepted, 95))}, peak RSS ${figures.peakRss.map(mib).join(' + ')}`);
    }
    if (trainTargets.length) train = await trainRun(setup, trainTargets, quick);
    proxyCounts = proxy.counts();
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error('scale bench: stop failed:', err));
  }

  const rows: string[][] = [['run', 'running at once', 'departure/start → all boarded/started', '→ all live', '→ all done', 'action p50 / p95 (n)', 'idle p95 (×)', 'WFT sched→start p50 / p95 / max', 'peak RSS (per run)', 'worker CPU']];
  for (const r of runs) {
    const p95 = percentile(r.actions.accepted, 95);
    const idleP95 = percentile(r.idle.accepted, 95);
    const extra = r.peakRss.map((p, i) => p - r.idleRss[i]).reduce((a, b) => a + b, 0);
    rows.push([
      r.label,
      String(r.concurrent),
      fmtMs(r.allStartedMs),
      fmtMs(r.allLiveMs),
      fmtMs(r.allDoneMs),
      `${fmtMs(median(r.actions.accepted))} / ${fmtMs(p95)} (${r.actions.accepted.length})`,
      `${fmtMs(idleP95)} (×${(p95 / idleP95).toFixed(1)})`,
      `${fmtMs(median(r.wftMs))} / ${fmtMs(percentile(r.wftMs, 95))} / ${fmtMs(Math.max(...r.wftMs))}`,
      `${r.peakRss.map(mib).join(' + ')} (${(extra / r.n / MiB).toFixed(2)} MiB)`,
      `${r.cpuSeconds.map((c) => c.toFixed(0)).join(' + ')} s (${((1000 * r.cpuSeconds.reduce((a, b) => a + b, 0)) / r.n).toFixed(0)} ms/run)`,
    ]);
  }
  if (train) {
    rows.push([
      `train of ${train.releases} releases, 1 worker`,
      '',
      fmtMs(train.boardedMs),
      fmtMs(train.liveMs),
      fmtMs(train.endedMs),
      '',
      '',
      `boarding gap p50 ${fmtMs(median(train.boardGaps))}`,
      `${mib(train.peakRss)} (${((train.peakRss - train.idleRss) / train.releases / MiB).toFixed(2)} MiB)`,
      `${train.cpuSeconds.toFixed(0)} s`,
    ]);
  }

  const notes: string[] = [];
  // The targets are judged where N deployments run at once as they do in production: the
  // steady regime. The burst (all at once, seconds-long soaks) shows throughput and the worst case.
  const at200 = runs.find((r) => r.regime === 'steady' && r.n === 200 && r.workers === 1);
  const at500x2 = runs.find((r) => r.regime === 'steady' && r.n === 500 && r.workers === 2);
  for (const r of runs) {
    if (r.failed.length) notes.push(`${r.label}: ${r.failed.length} did not succeed: ${r.failed.slice(0, 3).join('; ')}`);
    const o = r.others;
    notes.push(`${r.label}: CPU over the ${o.wallSeconds.toFixed(0)} s of load (2 cores: ${(2 * o.wallSeconds).toFixed(0)} s available): worker ${r.cpuSeconds.map((c) => c.toFixed(0)).join(' + ')} s, Temporal dev server ${o.temporal.toFixed(0)} s, moto ${o.moto.toFixed(0)} s, this process (client, stand-in) ${o.bench.toFixed(0)} s; the whole machine ${o.machine.toFixed(0)} s.`);
    const h = r.histories;
    const acts = Object.entries(h.activities).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
    notes.push(`${r.label}: one deployment's history: ${h.events.toFixed(0)} events, ${h.workflowTasks.toFixed(1)} workflow tasks (${h.workflowTaskTimeouts.toFixed(1)} timed out, ${h.workflowTaskFailures.toFixed(1)} failed), activities: ${acts}.`);
    const ops = (prefix: string) => r.server.filter((x) => x.key.startsWith(prefix)).slice(0, 4).map((x) => `${x.key.slice(prefix.length)} ${fmtMs(x.meanMs)} ×${x.calls}`).join(', ');
    notes.push(`${r.label}: the Temporal server's mean latency, by total time: frontend ${ops('frontend ')}; persistence ${ops('persistence ')}.`);
    if (r.actions.refused.length) notes.push(`${r.label}: ${r.actions.refused.length} pauses refused (the deployment had gone live), p95 ${fmtMs(percentile(r.actions.refused, 95))}: not counted above.`);
  }
  if (at200) {
    notes.push(against(percentile(at200.actions.accepted, 95), TARGET_ACTION_P95_MS, '200 concurrent, one worker: action p95 ≤ 250 ms'));
    notes.push(against(Math.round(Math.max(...at200.peakRss) / MiB), TARGET_RSS_MIB, '200 concurrent, one worker: peak RSS ≤ 1024 MiB'));
  }
  if (at500x2) notes.push(against(percentile(at500x2.actions.accepted, 95), TARGET_ACTION_P95_MS, '500 concurrent, two workers: action p95 ≤ 250 ms'));
  if (quick) notes.push(`Quick profile: N = ${runs.map((r) => r.n).join(', ')} and a train of ${train?.releases}; the targets are judged at 200 (one worker) and 500 (two workers), steady, in the full profile.`);
  notes.push(
    ...runs.map((r) => `Plan of ${r.label}: ${describeShape(shapeOf(r.regime, quick, r.n))}.`),
    `Half the services behind an ALB, half behind Route 53 records; ${seedMs ? `seeding ${maxN + profile.runs.length + profile.train} targets into moto took ${fmtMs(seedMs)}` : ''}.`,
    `Actions: pause then resume on random deployments not yet live, one at a time, ${ACTION_GAP_MS} ms apart, through the client's executeUpdate; "idle" is the same on one soaking deployment before the load, in the same run. Metrics: ${proxyCounts.answered} GetMetricData answered by the stand-in, ${proxyCounts.forwarded} calls forwarded to moto.`,
  );
  const figures: Record<string, unknown> = {
    seedMs,
    runs: runs.map((r) => ({
      regime: r.regime,
      n: r.n,
      workers: r.workers,
      concurrent: r.concurrent,
      allStartedMs: r.allStartedMs,
      allLiveMs: r.allLiveMs,
      allDoneMs: r.allDoneMs,
      startP95Ms: r.startP95Ms,
      actionP50Ms: median(r.actions.accepted),
      actionP95Ms: percentile(r.actions.accepted, 95),
      actions: r.actions.accepted.length,
      idleActionP95Ms: percentile(r.idle.accepted, 95),
      wftScheduleToStartP50Ms: median(r.wftMs),
      wftScheduleToStartP95Ms: percentile(r.wftMs, 95),
      peakRssMiB: r.peakRss.map((p) => Math.round(p / MiB)),
      idleRssMiB: r.idleRss.map((p) => Math.round(p / MiB)),
      cpuSeconds: r.cpuSeconds,
      othersCpu: r.others,
      failed: r.failed.length,
    })),
    train: train && {
      releases: train.releases,
      boardedMs: train.boardedMs,
      liveMs: train.liveMs,
      endedMs: train.endedMs,
      boarded: train.boarded,
      live: train.live,
      peakRssMiB: Math.round(train.peakRss / MiB),
    },
  };
  return { table: rows, figures, notes };
}

export const scaleBench: Bench = {
  name: 'scale',
  what: 'N concurrent deployments on one worker (and two), an operator action\'s round trip meanwhile, and a train of ready releases',
  run,
};
