// How fast Baton gets a service out of trouble: a breach injected into the metrics of the new
// colour during a soak, until the router (the ALB's listener in moto, read directly) sends
// 100 % to the previous colour. Split into
// - detection: breach → the first failing analysis sample (bounded by the analysis interval,
//   plus the time for the metrics to show the breach),
// - confirmation: first failing sample → the sample that decides the rollback (the plan's
//   `failureLimit` consecutive failures: policy, (failureLimit − 1) intervals),
// - action: decision → the router reads 100 % on the previous colour, which includes the
//   capacity check the rollback makes before moving any traffic.
// Detection is split again at the instant the metrics show the breach to whoever queries them:
// before it is the sandbox's metrics pipeline (CloudWatch's own delay in production), after it
// is Baton's sampling schedule.
// Each run deploys a new version on a stack like the sandbox (Temporal dev server, moto, the
// feeder ticking every second and writing a fault change at once, an in-process worker) onto
// one of three lanes in turn, waits until it soaks at 50 %, injects the fault (through the
// fault store, as the control server does) at a random phase of the sampling schedule, and
// heals it once the router is back. The decision's instant is the workflow's own (the
// deciding sample's `at`, workflow time on this machine's clock); the breach's, the metrics'
// and the router's are read here.
import { until } from '../test/harness/wait';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { DeploymentStatus } from '../src/domain/deployment';
import type { Colour, Weights } from '../src/domain/types';
import { SANDBOX_PLAN } from '../src/sandbox/sandbox-config';
import { buildDeploymentSpec, ConflictError, startDeployment } from '../src/temporal/deployments';
import { deploymentStatusQuery } from '../workflows/messages';
import { startStack, type Stack } from '../test/harness/stack';
import { fmtMs, median, percentile, type Bench, type BenchReport } from './lib';

/** The sandbox's lanes behind an ALB, taken in turn: a lane's next run starts once its last run's bad datapoints have left the analysis window. */
const LANES = [
  { service: 'web', environment: 'prod' },
  { service: 'web', environment: 'staging' },
  { service: 'web', environment: 'dev' },
];
type Lane = (typeof LANES)[number];
/** The sandbox's analysis (a sample every 2 s over the last 6 s, two failures roll back), with a long soak at 50 %. */
const INTERVAL_MS = 2000;
const WINDOW_MS = 6000;
const FAILURE_LIMIT = 2;
const PLAN = {
  ...SANDBOX_PLAN,
  steps: [{ shift: 50 }, { soak: '1h' }, { shift: 100 }],
  analysis: { ...SANDBOX_PLAN.analysis, interval: `${INTERVAL_MS / 1000}s`, window: `${WINDOW_MS / 1000}s`, failureLimit: FAILURE_LIMIT },
};
/** Below 0.5, so only the analysis sees it (the sandbox's smoke test fails from 0.5 on). */
const ERROR_RATE = 0.2;
/** How often the router is read while waiting for the rollback. */
const ROUTER_POLL_MS = 20;
/** How often the metrics are read while waiting for them to show the breach. */
const METRICS_POLL_MS = 50;

const TARGETS = { actionMs: 1000, detectionMs: INTERVAL_MS + 1000 };

interface RunFigures {
  version: string;
  /** Breach → the metrics show it (feeder and CloudWatch, not Baton). */
  visibleMs: number;
  /** The metrics show it → the first failing sample: Baton's sampling schedule and the query. */
  samplingMs: number;
  detectionMs: number;
  confirmationMs: number;
  /** Decision → the router reads 100 % on the previous colour. */
  actionMs: number;
  totalMs: number;
  /** Decision → the rollback's capacity check (describe the previous colour) has returned. */
  capacityMs: number | null;
  /** Decision → the rollback's verified write (shiftTraffic) has returned. */
  verifiedMs: number | null;
  laneClearAt: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls every `everyMs` (the harness's until, at the bench's finer grain). */
function pollUntil<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, everyMs: number, timeoutMs: number): Promise<T> {
  return until(`rollback bench: ${what}`, read, ok, timeoutMs, everyMs);
}

/** Starts the deployment, trying again while the lane of the previous one is still closing. */
async function start(stack: Stack, lane: Lane, version: string): Promise<string> {
  const spec = buildDeploymentSpec(stack.config, { ...lane, version, requestedBy: 'ada' });
  for (let attempt = 1; ; attempt++) {
    try {
      return (await startDeployment(stack.client, stack.taskQueue, spec)).id;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 50) throw err;
      await sleep(200);
    }
  }
}

/** When each activity with one of these summaries, scheduled at or after `from`, completed (workflow time). */
async function completions(handle: WorkflowHandle, from: number, summaries: string[]): Promise<Map<string, number>> {
  const EventType = temporal.api.enums.v1.EventType;
  const history = await handle.fetchHistory();
  const summaryOf = new Map<number, string>();
  const done = new Map<string, number>();
  for (const e of history.events ?? []) {
    const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && at >= from) {
      const data = e.userMetadata?.summary?.data;
      const summary = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : '';
      if (summaries.includes(summary)) summaryOf.set(Number(e.eventId), summary);
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) {
      const summary = summaryOf.get(Number(completed.scheduledEventId));
      if (summary && !done.has(summary)) done.set(summary, at);
    }
  }
  return done;
}

async function oneRun(stack: Stack, lane: Lane, version: string): Promise<RunFigures> {
  const env = stack.config.services[lane.service].environments[lane.environment];
  const router = stack.motoProviders.routerFor(env.traffic);
  const id = await start(stack, lane, version);
  const handle = stack.client.workflow.getHandle(id);
  const status = () => handle.query(deploymentStatusQuery);

  const soaking = await pollUntil('soak at 50 %', status, (s: DeploymentStatus) => s.phase === 'soaking' && s.targetColour !== null && s.weights?.[s.targetColour] === 50, 100, 120_000);
  const bad = soaking.targetColour as Colour;
  const previous = soaking.liveColour as Colour;
  // A breach lands anywhere between two samples, as in production.
  await sleep(Math.random() * INTERVAL_MS);

  const fault = { ...lane, colour: bad };
  const breachAt = Date.now();
  stack.faults.set({ ...fault, errorRate: ERROR_RATE });
  let visibleAt = 0;
  let restoredAt = 0;
  try {
    // When the metrics show the breach to anyone who asks (the query the analysis makes): the
    // feeder's write for the change (the fault store tells it), as CloudWatch serves it. What is
    // left is Baton's.
    await pollUntil('breach in the metrics', async () => {
      const m = await stack.motoProviders.metrics.measure(env.metrics, bad, WINDOW_MS / 1000);
      visibleAt = Date.now();
      return m;
    }, (m) => m.requests !== null && m.requests > 0 && (m.errors ?? 0) / m.requests > env.thresholds.maxErrorRate, METRICS_POLL_MS, 30_000);
    await pollUntil(`100 % on ${previous}`, async () => {
      const w: Weights = await router.getWeights();
      restoredAt = Date.now();
      return w;
    }, (w) => w[previous] === 100, ROUTER_POLL_MS, 60_000);
  } finally {
    stack.faults.clear(fault);
  }
  await handle.result().catch(() => undefined); // a rolled-back deployment fails, as it should
  const final = await status();
  if (final.outcome !== 'rolled_back') throw new Error(`rollback bench: ${id} ended ${final.outcome}, not rolled back: ${final.rollback?.reason ?? final.error}`);

  const failing = final.analysis.samples.filter((x) => x.verdict === 'fail' && Date.parse(x.at) >= breachAt);
  if (failing.length < FAILURE_LIMIT) throw new Error(`rollback bench: ${id} rolled back on ${failing.length} failing samples after the breach: ${final.rollback?.reason}`);
  const firstFailAt = Date.parse(failing[0].at);
  const decidedAt = Date.parse(failing[FAILURE_LIMIT - 1].at);
  const capacity = `Read ${previous}'s capacity`;
  const shift = `Roll back: 100 % to ${previous}`;
  const done = await completions(handle, decidedAt, [capacity, shift]);
  const since = (at: number | undefined) => (at === undefined ? null : at - decidedAt);
  return {
    version,
    visibleMs: visibleAt - breachAt,
    samplingMs: firstFailAt - visibleAt,
    detectionMs: firstFailAt - breachAt,
    confirmationMs: decidedAt - firstFailAt,
    actionMs: restoredAt - decidedAt,
    totalMs: restoredAt - breachAt,
    capacityMs: since(done.get(capacity)),
    verifiedMs: since(done.get(shift)),
    // The bad colour's datapoints stay in CloudWatch (the feeder writes none for a colour
    // without traffic): this lane's next deployment, onto the same colour, must not read them.
    laneClearAt: restoredAt + WINDOW_MS + 1000,
  };
}

/** The worker's warnings, less one per run: every rolled-back deployment fails, by design. */
class QuietRollbacks extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (message === 'Workflow failed' && meta?.workflowType === 'deployment') return;
    super.log(level, message, meta);
  }
}

const stats = (xs: number[]) => ({ p50: median(xs), p95: percentile(xs, 95), max: Math.max(...xs) });

async function run({ quick }: { quick: boolean }): Promise<BenchReport> {
  const runs = quick ? 2 : 20;
  try {
    Runtime.install({ logger: new QuietRollbacks('WARN') });
  } catch {
    /* a runtime already exists in this process (another benchmark's): keep it */
  }
  const t0 = Date.now();
  const stack = await startStack({ feeder: true, plan: PLAN });
  console.log(`rollback: stack up in ${fmtMs(Date.now() - t0)}`);
  const results: RunFigures[] = [];
  try {
    const clearAt = new Map<Lane, number>();
    for (let i = 1; i <= runs; i++) {
      const lane = LANES[(i - 1) % LANES.length];
      await sleep((clearAt.get(lane) ?? 0) - Date.now());
      const r = await oneRun(stack, lane, `1.${i}.0`);
      clearAt.set(lane, r.laneClearAt);
      results.push(r);
      console.log(`rollback: run ${i}/${runs} (${lane.service} ${lane.environment} ${r.version}): metrics ${fmtMs(r.visibleMs)}, detection ${fmtMs(r.detectionMs)}, confirmation ${fmtMs(r.confirmationMs)}, action ${fmtMs(r.actionMs)}`);
    }
  } finally {
    await stack.stop();
  }

  const col = (pick: (r: RunFigures) => number | null) => results.map(pick).filter((x): x is number => x !== null);
  const row = (what: string, xs: number[], ratio = true): string[] => {
    const s = stats(xs);
    return [what, String(xs.length), fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.max), ratio ? `${(s.p50 / INTERVAL_MS).toFixed(2)} / ${(s.p95 / INTERVAL_MS).toFixed(2)}` : ''];
  };
  const visible = col((r) => r.visibleMs);
  const sampling = col((r) => r.samplingMs);
  const detection = col((r) => r.detectionMs);
  const confirmation = col((r) => r.confirmationMs);
  const action = col((r) => r.actionMs);
  const total = col((r) => r.totalMs);
  const capacity = col((r) => r.capacityMs);
  const verified = col((r) => r.verifiedMs);
  const d = stats(detection);
  const a = stats(action);
  const t = stats(total);
  return {
    table: [
      ['from → to', 'runs', 'p50', 'p95', 'max', '÷ interval (p50 / p95)'],
      row('breach → the metrics show it (feeder, CloudWatch)', visible, false),
      row('metrics show it → first failing sample', sampling),
      row('breach → first failing sample (detection)', detection),
      row(`first failing → deciding sample (${FAILURE_LIMIT} in a row)`, confirmation),
      row('decision → capacity of the previous colour read', capacity, false),
      row('decision → router reads 100 % previous (action)', action, false),
      row('decision → write verified by the workflow', verified, false),
      row('breach → router reads 100 % previous (total)', total),
    ],
    figures: {
      runs: results.length,
      intervalMs: INTERVAL_MS,
      failureLimit: FAILURE_LIMIT,
      visibleP50Ms: median(visible),
      samplingP50Ms: median(sampling),
      samplingP95Ms: percentile(sampling, 95),
      detectionP50Ms: d.p50,
      detectionP95Ms: d.p95,
      detectionP50Intervals: d.p50 / INTERVAL_MS,
      detectionP95Intervals: d.p95 / INTERVAL_MS,
      confirmationP50Ms: median(confirmation),
      actionP50Ms: a.p50,
      actionP95Ms: a.p95,
      capacityP50Ms: median(capacity),
      verifiedP50Ms: median(verified),
      totalP50Ms: t.p50,
      totalP95Ms: t.p95,
    },
    notes: [
      `Plan: a sample every ${INTERVAL_MS / 1000} s over the last ${WINDOW_MS / 1000} s, ${FAILURE_LIMIT} failing samples roll back; the feeder ticks every 1 s and writes a fault change at once; fault: ${ERROR_RATE * 100} % 5xx on the new colour at 50 %.`,
      met(a.p95, TARGETS.actionMs, 'action p95 ≤ 1 s'),
      met(d.p95, TARGETS.detectionMs, `detection p95 ≤ one interval + 1 s (${fmtMs(TARGETS.detectionMs)})`),
      met(percentile(sampling, 95), TARGETS.detectionMs, "Baton's part of detection (the metrics show it → failing sample) p95 ≤ one interval + 1 s"),
      `The metrics show a breach ${fmtMs(median(visible))} after it at the median here (the feeder writes the change at once, into the second that last ended, the newest moto serves); in production that is CloudWatch's own delay, which analysis.lag covers.`,
      `With a 1-minute interval: Baton's detection is ${(median(sampling) / INTERVAL_MS).toFixed(2)} interval at the median (${(percentile(sampling, 95) / INTERVAL_MS).toFixed(2)} at p95) after the metrics show the breach, then ${FAILURE_LIMIT - 1} more interval(s) to confirm (failureLimit ${FAILURE_LIMIT}), then the action (${fmtMs(a.p95)} at p95).`,
    ],
  };
}

function met(value: number, target: number, what: string): string {
  return `${what}: ${value <= target ? 'met' : 'MISSED'} (${fmtMs(value)})`;
}

export const rollbackBench: Bench = {
  name: 'rollback',
  what: 'a breach in the metrics → 100 % back on the previous colour: detection, confirmation and action',
  run,
};
