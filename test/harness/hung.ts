// A workflow test that times out leaves its runs going, and its worker polling the test's task
// queue: left so, the next test cannot register its own worker there, and the timeout says
// nothing of where the runs stood. A test's worker here records the runs whose activities it
// ran; when the test ends before the function it ran for, the harness prints where each of those
// runs (and the children they started) stood, ends them, and stops the worker before the next
// test.
import { onTestFinished } from 'vitest';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createBatonWorker, type BatonWorker, type BatonWorkerOptions } from '../../src/worker';
import { factsOf, timerDueAt, type HistoryFact } from './history';
import { within } from './wait';

/** The runs a worker ran activities for, in the order it first saw them. */
interface RunsSeen {
  readonly ids: Set<string>;
  /** For the worker's `activityInterceptors`. */
  readonly interceptor: ActivityInterceptorsFactory;
}

function runsSeen(): RunsSeen {
  const ids = new Set<string>();
  return {
    ids,
    interceptor: (ctx) => {
      const id = ctx.info.workflowExecution?.workflowId;
      if (id) ids.add(id);
      return {};
    },
  };
}

/** How long the report and the terminations may take: a wedged server may not answer at all. */
const REPORT_TIMEOUT_MS = 20_000;

/**
 * Runs `fn` on `worker` until it settles. When the current test ends first (its timeout),
 * `leftBehind()` runs (it reports and ends the test's runs), then the worker is stopped and
 * waited for, so the next test starts with the task queue free. Outside a test (a hook) it is
 * worker.runUntil.
 */
function runForTest<T>(worker: BatonWorker, fn: () => Promise<T>, leftBehind: () => Promise<void>): Promise<T> {
  let stop: (err: Error) => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => (stop = reject));
  stopped.catch(() => undefined);
  let settled = false;
  const run = worker.runUntil(() => Promise.race([fn(), stopped])).finally(() => (settled = true));
  try {
    onTestFinished(async () => {
      if (settled) return;
      await within(leftBehind(), REPORT_TIMEOUT_MS, 'the runs left behind were not reported and ended').catch((err: unknown) => console.error(`[harness] ${String(err)}`));
      stop(new Error('the test ended (timed out) before its workflows did: its worker was stopped'));
      await run.catch(() => undefined);
    });
  } catch {
    // Not inside a test: nothing ends it early.
  }
  return run;
}

/**
 * For a test that ended while its runs went on: prints where they stood (describeRuns), then
 * terminates those still running, so none holds the time-skipping server's clock, or a task
 * for the stopped worker, in the next test.
 */
async function reportAndEnd(client: Client, ids: Iterable<string>, now?: number): Promise<void> {
  const { text, running } = await describeRuns(client, ids, now);
  console.error(`[harness] the test ended while its workflows still ran; where they stood:\n${text}`);
  for (const id of running) await client.workflow.getHandle(id).terminate('the test ended (timed out) while it ran').catch(() => undefined);
}

/**
 * Where each run stands, and the children it started: status, pending workflow task,
 * activities (attempt, last failure) and timers (when due), and its last events, at workflow
 * time. `now`: the server's time, for "due in".
 */
async function describeRuns(client: Client, ids: Iterable<string>, now?: number): Promise<{ text: string; running: string[] }> {
  const queue = [...ids];
  const done = new Set<string>();
  const lines: string[] = [];
  const running: string[] = [];
  if (now !== undefined) lines.push(`server time ${iso(now)}`);
  while (queue.length) {
    const id = queue.shift() as string;
    if (done.has(id)) continue;
    done.add(id);
    const handle = client.workflow.getHandle(id);
    try {
      const d = await handle.describe();
      const facts = factsOf(await handle.fetchHistory());
      lines.push(`${id} (${d.type}) ${d.status.name}, ${facts.length} events`);
      if (d.status.name === 'RUNNING') running.push(id);
      const task = d.raw.pendingWorkflowTask;
      if (task) lines.push(`  workflow task ${enumName(temporal.api.enums.v1.PendingWorkflowTaskState, task.state)}, attempt ${task.attempt ?? 1}`);
      for (const a of d.raw.pendingActivities ?? []) {
        lines.push(`  activity ${a.activityType?.name ?? '?'} ${enumName(temporal.api.enums.v1.PendingActivityState, a.state)}, attempt ${a.attempt ?? 1}${a.lastFailure?.message ? `, last failure: ${a.lastFailure.message}` : ''}`);
      }
      for (const t of pendingTimers(facts)) lines.push(`  timer ${t.timerId} due ${iso(timerDueAt(t))}${t.summary ? ` (${t.summary})` : ''}`);
      for (const c of d.raw.pendingChildren ?? []) if (c.workflowId) queue.push(c.workflowId);
      for (const f of facts.slice(-6)) lines.push(`  #${f.id} ${iso(f.at)} ${f.type}${f.activityType ? ` ${f.activityType}` : ''}`);
    } catch (err) {
      lines.push(`${id}: ${String(err)}`);
    }
  }
  return { text: lines.join('\n'), running };
}

function pendingTimers(facts: HistoryFact[]): HistoryFact[] {
  const ended = new Set(facts.filter((f) => f.type === 'TIMER_FIRED' || f.type === 'TIMER_CANCELED').map((f) => f.timerId));
  return facts.filter((f) => f.type === 'TIMER_STARTED' && !ended.has(f.timerId));
}

const iso = (ms: number) => new Date(ms).toISOString();

/** `STARTED` for PENDING_ACTIVITY_STATE_STARTED. */
const enumName = (e: Record<number, string>, v: number | null | undefined) => (e[v ?? 0] ?? String(v)).replace(/^[A-Z_]*STATE_/, '');

/**
 * A Baton worker for one test on the time-skipping server `env`, run until `fn` settles: it
 * records the runs it serves, and when the test ends first, reports and ends them (reportAndEnd)
 * and stops (runForTest).
 */
export async function runTestWorker<T>(env: TestWorkflowEnvironment, opts: Omit<BatonWorkerOptions, 'connection' | 'namespace' | 'activityInterceptors'>, fn: () => Promise<T>): Promise<T> {
  const seen = runsSeen();
  const worker = await createBatonWorker({ ...opts, connection: env.nativeConnection, namespace: 'default', activityInterceptors: [seen.interceptor] });
  return runForTest(worker, fn, async () => reportAndEnd(env.client, seen.ids, await env.currentTimeMs()));
}
