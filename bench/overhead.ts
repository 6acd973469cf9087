// What Baton adds to a rollout, per step: a real deployment of a plan of K shifts with a soak of
// S seconds after each but the last (100 %), on the Temporal dev server with moto, from its
// start to live; minus the soaks and minus the provider calls' own time; divided by K. Beside
// it, in the same run and the same way, a bare Temporal workflow (bench/bare-workflow.ts) that
// makes the same calls in the same order with the same sleeps on a worker of its own.
//
// Measured from each run's history, after it:
// - start: the WorkflowExecutionStarted event;
// - live: the workflow time of the task that saw the last step done (the deployment's `liveAt`,
//   which its status reports; the bare workflow returns its own);
// - a provider call's own time: ActivityTaskStarted → ActivityTaskCompleted of every activity
//   on the path to live (Slack's run beside it and are not subtracted: if they get in the way,
//   that is overhead);
// - what is left is Temporal's round trips and Baton's own work: activity dispatch (scheduled →
//   started), timers firing late, and workflow tasks. The table splits it so.
// Analysis reads a stand-in for CloudWatch (test/harness/app-metrics.ts: a healthy colour,
// 1 000 requests a second in proportion to its weight) every S seconds, so each soak takes one
// passing sample, even the first, whose window holds only the seconds since the first shift.
// Each round deploys web in one environment (dev, staging, prod, then again), both workflows one
// after the other, which first alternating from round to round (the machine's drift falls on
// both); the deployment's tail (a keep of one soak, a second of standby, retirement) is waited
// out before the next run, so nothing runs beside the one measured. Before the rounds each
// worker warms up on `api` (a worker's first run loads the workflow code: a cold start, not a
// per-step cost).
//
// Beside the live figures, the worker's own time: the last round's two histories replayed in this
// process (no server), many times, per workflow task. The live figures move with the machine by
// several milliseconds a step; this one moves with the workflow code. With
// BATON_BENCH_HISTORIES=<dir>, every measured run's history is written there as JSON.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Client, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { configRegions } from '../src/config';
import { regionQueue } from '../src/domain/regions';
import { quietBundlerLogger, workflowBundle } from '../src/temporal/bundle';
import { buildDeploymentSpec } from '../src/temporal/deployments';
import { createBatonWorker, type BatonWorker } from '../src/worker';
import { deploymentStatusQuery } from '../workflows/messages';
import { appMetrics, healthy } from '../test/harness/app-metrics';
import { temporal } from '@temporalio/proto';
import { routerOfMetrics, startStack, type Stack } from '../test/harness/stack';
import { against, fmtMs, median, type Bench, type BenchReport } from './lib';
import type { BareRolloutInput, BareRolloutResult } from './bare-workflow';

const TARGET_PER_STEP_MS = 50;
const TARGET_RATIO = 1.2;

const ACTIVITY_ENDS = ['ACTIVITY_TASK_COMPLETED', 'ACTIVITY_TASK_FAILED', 'ACTIVITY_TASK_TIMED_OUT', 'ACTIVITY_TASK_CANCELED'];

/** Activities that run beside the rollout, never on its path to live. */
const BESIDE = new Set(['postMessage', 'updateMessage']);

/** K shifts evenly up to 100 %, each but the last followed by a soak of S seconds. */
export function planOf(k: number, soakSeconds: number): Record<string, unknown> {
  const steps: Array<Record<string, unknown>> = [];
  for (let i = 1; i <= k; i++) {
    steps.push({ shift: Math.round((100 * i) / k) });
    if (i < k) steps.push({ soak: `${soakSeconds}s` });
  }
  return {
    steps,
    // One sample per soak, at its end; a window wide enough that 1 % of traffic is conclusive.
    analysis: { interval: `${soakSeconds}s`, window: '20s', failureLimit: 1, inconclusiveLimit: 3, lag: '0s' },
    // A short tail, waited out after live: the environment is ready for the next round.
    keepPreviousFor: `${soakSeconds}s`,
    standbyFor: '1s',
    standbyCount: 1,
    stableTimeout: '2m',
    drainMargin: '2s',
  };
}

const EventType = temporal.api.enums.v1.EventType;
const History = temporal.api.history.v1.History;
type History = temporal.api.history.v1.History;

/** What the figures need of one history event. */
export interface Event {
  id: number;
  type: string;
  /** ms since the epoch. */
  at: number;
  /** Activity events: the scheduling event; TIMER_FIRED: the TIMER_STARTED event. */
  ref: number | null;
  activityType: string | null;
  timerMs: number | null;
  attempt: number | null;
  /** The command's summary (activities, timers), if it has one. */
  summary: string | null;
}

function ms(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return 0;
  return Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6;
}

function summaryOf(e: temporal.api.history.v1.IHistoryEvent): string | null {
  const data = e.userMetadata?.summary?.data;
  if (!data) return null;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as string;
  } catch {
    return null;
  }
}

async function historyOf(handle: WorkflowHandle): Promise<History> {
  const history = await handle.fetchHistory();
  const dir = process.env.BATON_BENCH_HISTORIES;
  if (dir) writeFileSync(resolve(dir, `${handle.workflowId.replace(/[^\w.-]/g, '_')}.json`), JSON.stringify(History.toObject(history as History, { longs: String, enums: String, bytes: String })));
  return history as History;
}

function eventsOf(history: History): Event[] {
  return (history.events ?? []).map((e) => {
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
    const ref = e.activityTaskStartedEventAttributes?.scheduledEventId ?? done?.scheduledEventId ?? e.timerFiredEventAttributes?.startedEventId ?? null;
    return {
      id: Number(e.eventId),
      type: EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, ''),
      at: ms(e.eventTime),
      ref: ref === null ? null : Number(ref),
      activityType: e.activityTaskScheduledEventAttributes?.activityType?.name ?? null,
      timerMs: e.timerStartedEventAttributes ? ms(e.timerStartedEventAttributes.startToFireTimeout) : null,
      attempt: e.activityTaskStartedEventAttributes?.attempt ?? null,
      summary: summaryOf(e),
    };
  });
}

/** One run's figures, from its history. */
export interface RunFigures {
  wallMs: number;
  soakMs: number;
  /** The provider calls' own time (started → completed), on the path to live. */
  callsMs: number;
  /** wall − soaks − calls. */
  overheadMs: number;
  /** Of the overhead: activities waiting to be picked up (scheduled → started). */
  dispatchMs: number;
  /** Of the overhead: timers firing after their duration (a timer with no soak behind it counts whole). */
  timersLateMs: number;
  /** Of the overhead: the rest (workflow tasks: the worker deciding, the server recording). */
  tasksMs: number;
  activities: number;
  timers: number;
  workflowTasks: number;
  /** A workflow task before live, on average: scheduled → started (waiting for a worker's poll). */
  taskWaitMs: number;
  /** A workflow task before live, on average: started → completed (the worker's activation and its answer reaching the server). */
  taskWorkMs: number;
  /** Slack activities that ran before live (beside the path). */
  beside: number;
  attempts: number;
}

/** A run's figures and its history (replayed for the worker's own time). */
interface Run {
  figures: RunFigures;
  workflowId: string;
  history: History;
}

/** Reads a run's history up to `liveAtMs`; `soakMs` is what the plan's soaks add up to. */
export function figuresOf(facts: Event[], liveAtMs: number, soakMs: number): RunFigures {
  const started = facts.find((f) => f.type === 'WORKFLOW_EXECUTION_STARTED');
  if (!started) throw new Error('no WorkflowExecutionStarted in the history');
  const before = facts.filter((f) => f.at <= liveAtMs);
  const byId = new Map(facts.map((f) => [f.id, f]));
  let callsMs = 0;
  let dispatchMs = 0;
  let activities = 0;
  let beside = 0;
  let attempts = 0;
  for (const f of before) {
    if (f.type !== 'ACTIVITY_TASK_STARTED' || f.ref === null) continue;
    const scheduled = byId.get(f.ref);
    const done = facts.find((g) => g.id > f.id && ACTIVITY_ENDS.includes(g.type) && g.ref === f.ref);
    if (!scheduled || !done) continue;
    if (BESIDE.has(scheduled.activityType ?? '')) {
      beside++;
      continue;
    }
    activities++;
    callsMs += done.at - f.at;
    dispatchMs += f.at - scheduled.at;
    attempts += f.attempt ?? 1;
  }
  let timers = 0;
  let timedMs = 0;
  let timersLateMs = 0;
  for (const f of before) {
    if (f.type !== 'TIMER_FIRED' || f.ref === null) continue;
    const t = byId.get(f.ref);
    // The timers on the path to live are the soaks' (Slack's pacing timers run beside it).
    if (!t || !/^Soak /.test(t.summary ?? '')) continue;
    timers++;
    timedMs += t.timerMs ?? 0;
    timersLateMs += f.at - t.at - (t.timerMs ?? 0);
  }
  // Timers shorter than the soaks they stand for (a sample's timer, then the soak's end) are
  // part of the soak; count only what exceeds the soaks in all.
  timersLateMs += timedMs - soakMs;
  let taskWaitMs = 0;
  let taskWorkMs = 0;
  let tasks = 0;
  for (const f of before) {
    if (f.type !== 'WORKFLOW_TASK_COMPLETED') continue;
    // A task's events follow one another: scheduled, started, completed.
    const startedTask = byId.get(f.id - 1);
    const scheduledTask = byId.get(f.id - 2);
    if (startedTask?.type !== 'WORKFLOW_TASK_STARTED' || scheduledTask?.type !== 'WORKFLOW_TASK_SCHEDULED') continue;
    tasks++;
    taskWaitMs += startedTask.at - scheduledTask.at;
    taskWorkMs += f.at - startedTask.at;
  }
  const wallMs = liveAtMs - started.at;
  const overheadMs = wallMs - soakMs - callsMs;
  return {
    wallMs,
    soakMs,
    callsMs,
    overheadMs,
    dispatchMs,
    timersLateMs,
    tasksMs: overheadMs - dispatchMs - timersLateMs,
    activities,
    timers,
    workflowTasks: before.filter((f) => f.type === 'WORKFLOW_TASK_COMPLETED').length,
    taskWaitMs: tasks ? taskWaitMs / tasks : 0,
    taskWorkMs: tasks ? taskWorkMs / tasks : 0,
    beside,
    attempts,
  };
}

/** With BATON_BENCH_TRACE=1: a run's events up to live, in ms from its start (to see where time goes). */
function trace(id: string, facts: Event[], liveAtMs: number): void {
  if (process.env.BATON_BENCH_TRACE !== '1') return;
  const t0 = facts[0]?.at ?? 0;
  const byId = new Map(facts.map((f) => [f.id, f]));
  console.log(`-- ${id}`);
  for (const f of facts) {
    if (f.at > liveAtMs) break;
    const what = f.activityType ?? f.summary ?? (f.ref !== null ? (byId.get(f.ref)?.activityType ?? byId.get(f.ref)?.summary ?? '') : '');
    const timer = f.timerMs !== null ? ` (${f.timerMs} ms)` : '';
    console.log(`${(f.at - t0).toFixed(1).padStart(9)}  ${String(f.id).padStart(4)}  ${f.type}${what ? `  ${what}` : ''}${timer}`);
  }
}

/** The main queue's worker runs the bare workflow; one worker per region runs the activities it sends there. */
const bareBundle = (): Promise<WorkflowBundleWithSourceMap> =>
  bundleWorkflowCode({ workflowsPath: resolve(__dirname, 'bare-workflow.ts'), logger: quietBundlerLogger });

async function startBareWorkers(connection: NativeConnection, taskQueue: string, regions: readonly string[], deps: ActivityDeps, workflowBundle: WorkflowBundleWithSourceMap): Promise<{ run: Promise<unknown>; stop(): Promise<void> }> {
  const activities = createActivities(deps);
  const workers = [await Worker.create({ connection, taskQueue, activities, workflowBundle })];
  for (const region of regions) workers.push(await Worker.create({ connection, taskQueue: regionQueue(taskQueue, region), activities }));
  const run = Promise.all(workers.map((w) => w.run()));
  return {
    run,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await run;
    },
  };
}

/** Waits until the deployment is live (or has ended), reading its phase from the server only (no query: the worker does no extra work). */
async function untilLive(handle: WorkflowHandle, notBeforeMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // It cannot be live before its soaks are over: no need to ask before then.
  await new Promise((r) => setTimeout(r, notBeforeMs));
  while (Date.now() < deadline) {
    const d = await handle.describe();
    const phase = d.typedSearchAttributes.getAll().find((p) => p.key.name === 'BatonPhase')?.value;
    if (phase === 'keeping_previous' || d.status.name !== 'RUNNING') return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${handle.workflowId} was not live within ${timeoutMs} ms`);
}

/**
 * A worker's first run of a workflow type pays for loading its code (and the SDK parsing the
 * bundle's source map): a cold start, not a per-step cost. Each worker runs one throw-away run on
 * an environment no round uses, until it has done some steps, before anything is measured.
 */
async function warmUp(client: Client, workflowType: string, taskQueue: string, stack: Stack, environment: string, version: string): Promise<void> {
  const spec = buildDeploymentSpec(stack.config, { service: 'api', environment, version, requestedBy: 'bench' });
  const handle = await client.workflow.start(workflowType, { workflowId: spec.id, taskQueue, args: [{ spec }] });
  try {
    const deadline = Date.now() + 60_000;
    while ((await handle.describe()).historyLength < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  } finally {
    await handle.terminate('benchmark: warm-up done').catch(() => undefined);
  }
}

async function runDeployment(client: Client, taskQueue: string, stack: Stack, environment: string, version: string, soakMs: number): Promise<Run> {
  const spec = buildDeploymentSpec(stack.config, { service: 'web', environment, version, requestedBy: 'bench' });
  const handle = await client.workflow.start('deployment', { workflowId: spec.id, taskQueue, args: [{ spec }] });
  try {
    await untilLive(handle, soakMs, 120_000);
    const status = await handle.query(deploymentStatusQuery);
    if (!status.liveAt) throw new Error(`${spec.id} did not go live: phase ${status.phase}, ${status.rollback?.reason ?? status.error ?? ''}`);
    const history = await historyOf(handle);
    const events = eventsOf(history);
    trace(spec.id, events, Date.parse(status.liveAt));
    if (process.env.BATON_BENCH_TRACE === '1') for (const e of status.timeline) console.log(`${e.at}  ${e.type}  ${e.message}`);
    // Its tail must not run beside the next run, and the lane must be free for the next round.
    await handle.result();
    return { figures: figuresOf(events, Date.parse(status.liveAt), soakMs), workflowId: spec.id, history };
  } catch (err) {
    await handle.terminate('benchmark: failed').catch(() => undefined);
    throw err;
  }
}

async function runBare(client: Client, taskQueue: string, stack: Stack, environment: string, version: string, soakMs: number): Promise<Run> {
  const spec = buildDeploymentSpec(stack.config, { service: 'web', environment, version, requestedBy: 'bench' });
  const handle = await client.workflow.start('bareRollout', { workflowId: spec.id, taskQueue, args: [{ spec } satisfies BareRolloutInput] });
  const result = (await handle.result()) as BareRolloutResult;
  const history = await historyOf(handle);
  const events = eventsOf(history);
  trace(`${spec.id} (bare)`, events, result.liveAtMs);
  return { figures: figuresOf(events, result.liveAtMs, soakMs), workflowId: spec.id, history };
}

async function run({ quick }: { quick: boolean }): Promise<BenchReport> {
  const K = quick ? 5 : 10;
  // Not 1 s: the first soak's sample would see no datapoint yet (the stand-in's are a second
  // apart) and the soak would be extended by an interval, which is analysis policy, not overhead.
  const S = 2;
  const rounds = quick ? 1 : Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 6);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_OVERHEAD_ROUNDS must be a whole number ≥ 1, not '${process.env.BENCH_OVERHEAD_ROUNDS ?? ''}'`);
  const plan = planOf(K, S);
  const soakMs = (plan.steps as Array<{ soak?: string }>).filter((s) => s.soak).length * S * 1000;
  const stack = await startStack({ plan, worker: false });
  const stops: Array<() => Promise<void>> = [];
  const batonRuns: Run[] = [];
  const bareRuns: Run[] = [];
  const bundles = { baton: await workflowBundle(), bare: await bareBundle() };
  try {
    const { config, providers, client } = stack;
    const environments = Object.keys(config.services.web.environments);
    const spare = Object.keys(config.services.api.environments);
    if (spare.length < 2) throw new Error('the warm-up runs need api in two environments');
    const regions = configRegions(config);
    const deps: ActivityDeps = {
      ...providers,
      // Busy enough that a window of the seconds since the first shift is conclusive at 10 %:
      // a soak extended for want of data would be analysis policy, not orchestration overhead.
      metrics: appMetrics(routerOfMetrics(config, providers), () => healthy, { requestsPerSecond: 1000 }),
      stablePollMs: 200,
      temporal: client,
      freezes: config.freezes,
      allowed: config,
    };
    const connection = await NativeConnection.connect({ address: stack.temporal.address });
    stops.push(() => connection.close());
    const worker: BatonWorker = await createBatonWorker({ connection, namespace: 'default', taskQueue: stack.taskQueue, regions, deps });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
    });
    const bareQueue = `${stack.taskQueue}-bare`;
    const bareWorkers = await startBareWorkers(connection, bareQueue, regions, deps, bundles.bare);
    stops.push(() => bareWorkers.stop());

    await warmUp(client, 'deployment', stack.taskQueue, stack, spare[0], '0.0.1');
    await warmUp(client, 'bareRollout', bareQueue, stack, spare[1], '0.0.2');
    for (let i = 0; i < rounds; i++) {
      const environment = environments[i % environments.length];
      const batonRun = () => runDeployment(client, stack.taskQueue, stack, environment, `9.${i}.0`, soakMs);
      const bareRun = () => runBare(client, bareQueue, stack, environment, `9.${i}.1`, soakMs);
      if (i % 2 === 0) {
        batonRuns.push(await batonRun());
        bareRuns.push(await bareRun());
      } else {
        bareRuns.push(await bareRun());
        batonRuns.push(await batonRun());
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error('overhead: stop failed:', err));
    await stack.stop();
  }

  const baton = batonRuns.map((r) => r.figures);
  const bare = bareRuns.map((r) => r.figures);
  const times = quick ? 5 : 20;
  const replayed = {
    baton: await replayMsPerTask(bundles.baton, batonRuns[batonRuns.length - 1], times),
    bare: await replayMsPerTask(bundles.bare, bareRuns[bareRuns.length - 1], times),
  };
  const perStep = (xs: RunFigures[], pick: (f: RunFigures) => number) => median(xs.map(pick)) / K;
  const batonPerStep = perStep(baton, (f) => f.overheadMs);
  const barePerStep = perStep(bare, (f) => f.overheadMs);
  const ratio = batonPerStep / barePerStep;
  const taskTimes = (xs: RunFigures[]) => `${fmtMs(median(xs.map((f) => f.taskWaitMs)))} / ${fmtMs(median(xs.map((f) => f.taskWorkMs)))}`;
  const row = (what: string, xs: RunFigures[]): string[] => [
    what,
    fmtMs(median(xs.map((f) => f.wallMs))),
    fmtMs(median(xs.map((f) => f.soakMs))),
    fmtMs(median(xs.map((f) => f.callsMs))),
    fmtMs(perStep(xs, (f) => f.overheadMs)),
    fmtMs(perStep(xs, (f) => f.dispatchMs)),
    fmtMs(perStep(xs, (f) => f.timersLateMs)),
    fmtMs(perStep(xs, (f) => f.tasksMs)),
    `${median(xs.map((f) => f.activities))} / ${median(xs.map((f) => f.timers))} / ${median(xs.map((f) => f.workflowTasks))}`,
  ];
  return {
    table: [
      ['workflow', 'start → live', 'soaks', 'provider calls', 'overhead / step', 'dispatch / step', 'timers late / step', 'workflow tasks / step', 'activities / timers / tasks'],
      row('Baton deployment', baton),
      row('bare workflow (baseline)', bare),
    ],
    figures: {
      steps: K,
      soakSeconds: S,
      rounds,
      batonOverheadPerStepMs: batonPerStep,
      bareOverheadPerStepMs: barePerStep,
      ratio,
      batonWallMs: median(baton.map((f) => f.wallMs)),
      bareWallMs: median(bare.map((f) => f.wallMs)),
      batonTaskWorkMs: median(baton.map((f) => f.taskWorkMs)),
      bareTaskWorkMs: median(bare.map((f) => f.taskWorkMs)),
      batonRuns: baton.map((f) => f.overheadMs / K),
      bareRuns: bare.map((f) => f.overheadMs / K),
      batonReplayMsPerTask: replayed.baton,
      bareReplayMsPerTask: replayed.bare,
    },
    notes: [
      `A plan of ${K} shifts with a ${S} s soak after each but the last, one analysis sample per soak; median of ${rounds} round${rounds === 1 ? '' : 's'}; per step = overhead / ${K}.`,
      `A workflow task, on average (scheduled → started / started → completed): Baton ${taskTimes(baton)}, bare ${taskTimes(bare)}; the second is the worker's activation and its answer reaching the server.`,
      `The worker's own time, a run replayed in this process ${times} times (median): Baton ${fmtMs(replayed.baton)}, bare ${fmtMs(replayed.bare)} a workflow task (${(replayed.baton / replayed.bare).toFixed(2)} ×).`,
      `Slack activities beside the path (not subtracted): ${median(baton.map((f) => f.beside))} per deployment; provider calls retried: ${[...baton, ...bare].reduce((n, f) => n + f.attempts - f.activities, 0)} (a retry's wait counts as overhead).`,
      against(batonPerStep, TARGET_PER_STEP_MS, 'overhead per step (ms)'),
      against(ratio, TARGET_RATIO, `ratio to the bare workflow (${fmtMs(batonPerStep)} / ${fmtMs(barePerStep)})`),
    ],
  };
}

/**
 * The worker's time per workflow task, without the servers: a run's history replayed 1 + `times` times
 * in this process by one replay worker, the median time between two replays' results (the first
 * warms up) divided by the history's workflow tasks.
 */
async function replayMsPerTask(workflowBundle: WorkflowBundleWithSourceMap, { workflowId, history }: Run, times: number): Promise<number> {
  const tasks = (history.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length;
  const histories = Array.from({ length: 1 + times }, () => ({ workflowId, history }));
  const ms: number[] = [];
  let last: number | null = null;
  for await (const r of Worker.runReplayHistories({ workflowBundle }, histories)) {
    if (r.error) throw r.error;
    const at = performance.now();
    if (last !== null) ms.push(at - last);
    last = at;
  }
  return median(ms) / tasks;
}

export const overheadBench: Bench = { name: 'overhead', what: 'what a deployment adds per step, beyond its soaks and provider calls, against a bare workflow', run };
