// Reads a workflow's history as plain facts tests can assert on: what ran, when (workflow
// time, which the time-skipping server advances), with which summary, and timer lengths.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/temporal/bundle';

const EventType = temporal.api.enums.v1.EventType;

export interface HistoryFact {
  id: number;
  type: string;
  /** Milliseconds since the epoch (workflow time). */
  at: number;
  summary: string | null;
  activityType: string | null;
  timerSeconds: number | null;
  /** On WORKFLOW_EXECUTION_CONTINUED_AS_NEW: the next run. */
  nextRunId: string | null;
  /** On ACTIVITY_TASK_SCHEDULED: the task queue it was scheduled on. */
  taskQueue: string | null;
  /** On ACTIVITY_TASK_STARTED and an activity's end (completed, failed, timed out, cancelled): the scheduling event. */
  scheduledEventId: number | null;
  /** On ACTIVITY_TASK_STARTED: the identity of the worker that took it. */
  identity: string | null;
  /** On UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: the BatonPhase it lists, if it sets that one. */
  listedPhase: string | null;
  /** On TIMER_STARTED, TIMER_FIRED and TIMER_CANCELED: the timer. */
  timerId: string | null;
  /** On the marker of a `patched()` call: the patch's id. */
  patchId: string | null;
}

function ms(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return 0;
  return Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

function decodeSummary(e: temporal.api.history.v1.IHistoryEvent): string | null {
  return decodeJson(e.userMetadata?.summary?.data);
}

function decodeJson(data: Uint8Array | null | undefined): string | null {
  if (!data) return null;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as string;
  } catch {
    return null;
  }
}

function activityEventRef(e: temporal.api.history.v1.IHistoryEvent): number | null {
  const a = e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
  return a ? Number(a.scheduledEventId) : null;
}

/** The facts of a history, fetched or recorded. */
export function factsOf(history: temporal.api.history.v1.IHistory): HistoryFact[] {
  return (history.events ?? []).map((e) => ({
    id: Number(e.eventId),
    type: EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, ''),
    at: ms(e.eventTime),
    summary: decodeSummary(e),
    activityType: e.activityTaskScheduledEventAttributes?.activityType?.name ?? null,
    timerSeconds: e.timerStartedEventAttributes ? ms(e.timerStartedEventAttributes.startToFireTimeout) / 1000 : null,
    nextRunId: e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? null,
    taskQueue: e.activityTaskScheduledEventAttributes?.taskQueue?.name ?? null,
    scheduledEventId: activityEventRef(e),
    identity: e.activityTaskStartedEventAttributes?.identity ?? null,
    listedPhase: decodeJson(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.BatonPhase?.data),
    timerId: (e.timerStartedEventAttributes ?? e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes)?.timerId ?? null,
    patchId: patchIdOf(e),
  }));
}

function patchIdOf(e: temporal.api.history.v1.IHistoryEvent): string | null {
  const marker = e.markerRecordedEventAttributes;
  if (marker?.markerName !== 'core_patch') return null;
  const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id : null;
}

/** The ids of the patches a history's markers record, in order. */
export const patchMarkers = (facts: HistoryFact[]): string[] => facts.flatMap((f) => (f.patchId ? [f.patchId] : []));

/** When a TIMER_STARTED fact's timer is due (workflow time). */
export const timerDueAt = (started: HistoryFact): number => started.at + (started.timerSeconds ?? 0) * 1000;

/**
 * How close to its firing no timer is cancelled. Temporal's time-skipping test server fires a
 * timer while a workflow task runs, then rejects that task's CancelTimer for it and stops for
 * good, its clock locked (test/workflows/timer-race.test.ts): a cancel this close to the firing
 * meets that race whenever the task takes longer than what was left.
 */
export const CANCEL_MARGIN_MS = 500;

/**
 * The timers a history cancelled within `marginMs` of their firing, counted from the start of
 * the workflow task that cancelled them (its workflow time). Facts of several runs (allFacts)
 * are read run by run: each run numbers its timers afresh.
 */
export function cancelsNearFiring(facts: HistoryFact[], marginMs: number): { timerId: string; summary: string | null; leftMs: number }[] {
  const near: { timerId: string; summary: string | null; leftMs: number }[] = [];
  let started = new Map<string, HistoryFact>();
  let taskStartedAt = 0;
  for (const f of facts) {
    if (f.type === 'WORKFLOW_EXECUTION_STARTED') started = new Map();
    if (f.type === 'WORKFLOW_TASK_STARTED') taskStartedAt = f.at;
    if (f.type === 'TIMER_STARTED' && f.timerId) started.set(f.timerId, f);
    const timer = f.type === 'TIMER_CANCELED' && f.timerId ? started.get(f.timerId) : undefined;
    if (!timer) continue;
    const leftMs = timerDueAt(timer) - taskStartedAt;
    if (leftMs <= marginMs) near.push({ timerId: f.timerId as string, summary: timer.summary, leftMs });
  }
  return near;
}

/** The BatonPhase values a history's upserts list, in order. */
export const listedPhases = (facts: HistoryFact[]): string[] => facts.flatMap((f) => (f.listedPhase ? [f.listedPhase] : []));

export async function historyFacts(handle: WorkflowHandle, runId?: string): Promise<HistoryFact[]> {
  const history = await (runId ? handle.client.getHandle(handle.workflowId, runId) : handle).fetchHistory();
  return factsOf(history ?? {});
}

/** A history recorded by an earlier version of the code (test/workflows/fixtures/<name>.json). */
export function fixtureHistory(name: string): temporal.api.history.v1.History {
  const json = JSON.parse(readFileSync(resolve(__dirname, '../workflows/fixtures', `${name}.json`), 'utf8')) as Record<string, unknown>;
  return temporal.api.history.v1.History.fromObject(json);
}

/** Every run of a workflow that continued as new, from its first run on, each with its facts. */
export async function historyOfRuns(handle: WorkflowHandle, firstRunId: string): Promise<HistoryFact[][]> {
  const runs: HistoryFact[][] = [];
  let runId: string | null = firstRunId;
  while (runId) {
    const facts = await historyFacts(handle, runId);
    runs.push(facts);
    runId = facts.find((f) => f.nextRunId)?.nextRunId ?? null;
  }
  return runs;
}

export const scheduled = (facts: HistoryFact[], activityType?: string) =>
  facts.filter((f) => f.type === 'ACTIVITY_TASK_SCHEDULED' && (!activityType || f.activityType === activityType));

/** The first scheduled activity whose summary matches. */
export function firstScheduled(facts: HistoryFact[], summary: string | RegExp): HistoryFact {
  const hit = facts.find((f) => f.type === 'ACTIVITY_TASK_SCHEDULED' && f.summary !== null && (typeof summary === 'string' ? f.summary === summary : summary.test(f.summary)));
  if (!hit) throw new Error(`no activity scheduled with summary ${String(summary)}; saw: ${scheduled(facts).map((f) => f.summary).join(' | ')}`);
  return hit;
}

/**
 * Every run of a workflow, first to last, found from the latest run backwards (each run's
 * first event names the run it continued), so it works for runs another workflow started.
 */
export async function runIdsOf(handle: WorkflowHandle): Promise<string[]> {
  const ids: string[] = [];
  let runId: string | undefined = (await handle.describe()).runId;
  while (runId) {
    ids.unshift(runId);
    const history = await handle.client.getHandle(handle.workflowId, runId).fetchHistory();
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return ids;
}

/** The facts of every run of a workflow, in order. */
export async function allFacts(handle: WorkflowHandle): Promise<HistoryFact[]> {
  const runs = await Promise.all((await runIdsOf(handle)).map((id) => historyFacts(handle, id)));
  return runs.flat();
}

/** Replays every run of a workflow on a fresh worker: a nondeterminism error fails the test. */
export async function replayAll(handle: WorkflowHandle): Promise<number> {
  const bundle = await workflowBundle();
  const ids = await runIdsOf(handle);
  for (const id of ids) {
    await Worker.runReplayHistory({ workflowBundle: bundle }, await handle.client.getHandle(handle.workflowId, id).fetchHistory(), handle.workflowId);
  }
  return ids.length;
}
