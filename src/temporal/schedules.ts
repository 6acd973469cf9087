// Release trains as Temporal Schedules, client side: one schedule `train-<environment>` per
// configured train, kept in step with config by syncTrainSchedules() at worker start-up, and
// listed, paused, unpaused and triggered for the API. The calendar is evaluated by the
// Temporal server in the train's IANA zone (DST-correct); the next departures shown are the
// server's own, so what we show is what will run.
//
// Invariants: a sync changes a schedule only when its spec, policies or action differ from
// config (compared in a normalized form), and never un-pauses one; only schedules named by a
// configured train are ever touched (an id that is not one is "not found").
import type { TrainInput } from '../../workflows/messages';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
  type Workflow,
} from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributePair } from '@temporalio/common';
import type { BatonConfig } from '../config';
import { formatInZone, formatUtc } from '../domain/calendar';
import { trainScheduleId, type TrainSpec } from '../domain/release';
import { BatonEnvironment, BatonKind } from '../../workflows/messages';
import { ConflictError, NotFoundError } from './deployments';

/** The workflow type each departure starts (workflows/train.ts). */
export const TRAIN_WORKFLOW_TYPE = 'releaseTrain';

/** How many departures listTrains() shows. */
export const DEPARTURES_SHOWN = 5;

/** The train workflow's input: the environment and its train as config says (so a config change reaches the schedule on the next sync). */
export type TrainWorkflowInput = TrainInput;

export interface TrainDeparture {
  /** ISO instant (UTC). */
  at: string;
  /** In the train's zone, e.g. `Tue 10:00 PST`. */
  local: string;
  /** e.g. `Tue 2026-11-24 18:00 UTC`. */
  utc: string;
}

export interface TrainSchedule {
  /** The schedule id, `train-<environment>`. */
  id: string;
  environment: string;
  /** False when config has the train but the schedule does not exist yet (no worker has started). */
  scheduled: boolean;
  paused: boolean;
  /** The schedule's note: the pause reason while paused (shown in the Temporal UI). */
  note: string | null;
  days: TrainSpec['days'];
  /** Local departure time, `HH:MM`. */
  at: string;
  timeZone: string;
  windowSeconds: number;
  concurrency: number;
  order: string[];
  /** The next departures the server has computed (listed while paused too: a paused train skips them). */
  departures: TrainDeparture[];
}

export interface SyncResult {
  created: string[];
  updated: string[];
  unchanged: string[];
}

const DAY_OF_WEEK = {
  SUN: 'SUNDAY',
  MON: 'MONDAY',
  TUE: 'TUESDAY',
  WED: 'WEDNESDAY',
  THU: 'THURSDAY',
  FRI: 'FRIDAY',
  SAT: 'SATURDAY',
} as const;
const WEEK = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'] as const;

const two = (n: number): string => String(n).padStart(2, '0');

// ---------------------------------------------------------------- desired state
function scheduleSpec(train: TrainSpec): ScheduleSpec {
  return {
    calendars: [{
      dayOfWeek: train.days.map((d) => DAY_OF_WEEK[d]),
      hour: train.hour,
      minute: train.minute,
      comment: `${train.days.join(',')} ${two(train.hour)}:${two(train.minute)} ${train.timeZone}`,
    }],
    timezone: train.timeZone,
  };
}

function scheduleAction(train: TrainSpec, taskQueue: string): ScheduleOptionsStartWorkflowAction<Workflow> {
  const input: TrainWorkflowInput = { environment: train.environment, train };
  return {
    type: 'startWorkflow',
    workflowType: TRAIN_WORKFLOW_TYPE,
    taskQueue,
    args: [input],
    // The schedule appends the departure time, so each departure has its own id.
    workflowId: trainScheduleId(train.environment),
    typedSearchAttributes: new TypedSearchAttributes([
      { key: BatonKind, value: 'train' },
      { key: BatonEnvironment, value: train.environment },
    ]),
    staticSummary: `Release train to ${train.environment}`,
  };
}

function schedulePolicies(train: TrainSpec) {
  // SKIP: a departure still boarding when the next is due is not doubled up.
  return { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: train.catchupWindowSeconds * 1000 };
}

// ---------------------------------------------------------------- comparison
/** What a schedule does, in a form where config's wish and the server's description compare equal. */
interface Normalized {
  calendars: Array<{ days: string[]; hours: number[]; minutes: number[]; seconds: number[]; daysOfMonth: number[]; months: number; years: number }>;
  other: { intervals: number; skip: number; startAt: number | null; endAt: number | null; jitter: number };
  timeZone: string;
  overlap: string;
  catchupWindowMs: number;
  workflowType: string;
  taskQueue: string;
  workflowId: string;
  args: string;
  searchAttributes: Record<string, unknown>;
  summary: string | null;
}

type RangeLike = { start: unknown; end?: unknown; step?: number };

/** Expands `[{start, end, step}]` (numbers or names along `scale`) to sorted values. */
function expand(ranges: readonly RangeLike[] | undefined, scale?: readonly string[]): number[] {
  const out = new Set<number>();
  const index = (v: unknown): number => (scale ? scale.indexOf(String(v)) : Number(v));
  for (const r of ranges ?? []) {
    const start = index(r.start);
    const end = r.end === undefined ? start : index(r.end);
    const step = r.step && r.step > 0 ? r.step : 1;
    for (let v = start; v <= Math.max(start, end); v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function searchAttributePairs(attributes: TypedSearchAttributes | SearchAttributePair[] | undefined): SearchAttributePair[] {
  if (!attributes) return [];
  return Array.isArray(attributes) ? attributes : attributes.getAll();
}

function normalizeDescription(d: ScheduleDescription): Normalized {
  const spec = d.spec;
  const action = d.action;
  return {
    calendars: (spec.calendars ?? []).map((c) => ({
      days: expand(c.dayOfWeek, WEEK).map((i) => WEEK[i]),
      hours: expand(c.hour),
      minutes: expand(c.minute),
      seconds: expand(c.second),
      daysOfMonth: expand(c.dayOfMonth),
      months: expand(c.month, ['JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER']).length,
      years: (c.year ?? []).length,
    })),
    other: {
      // The server compiles cron strings into calendars, so a description has none.
      intervals: (spec.intervals ?? []).length,
      skip: (spec.skip ?? []).length,
      startAt: spec.startAt ? spec.startAt.getTime() : null,
      endAt: spec.endAt ? spec.endAt.getTime() : null,
      jitter: spec.jitter ?? 0,
    },
    timeZone: spec.timezone ?? '',
    overlap: String(d.policies.overlap),
    catchupWindowMs: d.policies.catchupWindow,
    workflowType: action.workflowType,
    taskQueue: action.taskQueue,
    workflowId: action.workflowId,
    args: JSON.stringify(action.args ?? []),
    searchAttributes: Object.fromEntries(searchAttributePairs(action.typedSearchAttributes).map((p) => [p.key.name, p.value])),
    summary: action.staticSummary ?? null,
  };
}

function normalizeDesired(train: TrainSpec, taskQueue: string): Normalized {
  const spec = scheduleSpec(train);
  const action = scheduleAction(train, taskQueue);
  return {
    calendars: [{
      days: WEEK.filter((day) => train.days.some((d) => DAY_OF_WEEK[d] === day)),
      hours: [train.hour],
      minutes: [train.minute],
      seconds: [0],
      daysOfMonth: expand([{ start: 1, end: 31 }]),
      months: 12,
      years: 0,
    }],
    other: { intervals: 0, skip: 0, startAt: null, endAt: null, jitter: 0 },
    timeZone: spec.timezone ?? '',
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindowMs: train.catchupWindowSeconds * 1000,
    workflowType: TRAIN_WORKFLOW_TYPE,
    taskQueue,
    workflowId: action.workflowId ?? '',
    args: JSON.stringify(action.args),
    searchAttributes: { BatonKind: 'train', BatonEnvironment: train.environment },
    summary: action.staticSummary ?? null,
  };
}

/** Key order does not matter; everything else does. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** Whether the schedule already does what config says for this train. */
export function scheduleMatches(description: ScheduleDescription, train: TrainSpec, taskQueue: string): boolean {
  return canonical(normalizeDescription(description)) === canonical(normalizeDesired(train, taskQueue));
}

// ---------------------------------------------------------------- sync
async function describeOrNull(handle: ScheduleHandle): Promise<ScheduleDescription | null> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/**
 * Creates the schedule of every configured train that is missing and updates those that
 * differ from config; leaves the rest alone (a second sync reports everything unchanged and
 * writes nothing). A paused schedule stays paused, with its note. Safe for several workers
 * starting at once: a create that loses the race is compared and updated like any other.
 */
export async function syncTrainSchedules(client: Client, config: BatonConfig): Promise<SyncResult> {
  const result: SyncResult = { created: [], updated: [], unchanged: [] };
  const taskQueue = config.temporal.taskQueue;
  for (const train of Object.values(config.trains)) {
    const id = trainScheduleId(train.environment);
    const handle = client.schedule.getHandle(id);
    let current = await describeOrNull(handle);
    if (!current) {
      try {
        await client.schedule.create({
          scheduleId: id,
          spec: scheduleSpec(train),
          action: scheduleAction(train, taskQueue),
          policies: schedulePolicies(train),
        });
        result.created.push(id);
        continue;
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        current = await handle.describe();
      }
    }
    if (scheduleMatches(current, train, taskQueue)) {
      result.unchanged.push(id);
      continue;
    }
    await handle.update((previous) => ({
      spec: scheduleSpec(train),
      action: scheduleAction(train, taskQueue),
      policies: schedulePolicies(train),
      // Keep what operators did: a paused train stays paused with its reason.
      state: { paused: previous.state.paused, note: previous.state.note, remainingActions: previous.state.remainingActions },
    }));
    result.updated.push(id);
  }
  return result;
}

// ---------------------------------------------------------------- list and act
function trainOf(config: BatonConfig, id: string): TrainSpec {
  const train = Object.values(config.trains).find((t) => trainScheduleId(t.environment) === id);
  if (!train) {
    const known = Object.values(config.trains).map((t) => trainScheduleId(t.environment));
    throw new NotFoundError(`no release train '${id}' (known: ${known.join(', ') || 'none'})`);
  }
  return train;
}

function view(train: TrainSpec, d: ScheduleDescription | null): TrainSchedule {
  return {
    id: trainScheduleId(train.environment),
    environment: train.environment,
    scheduled: d !== null,
    paused: d?.state.paused ?? false,
    note: d?.state.note || null,
    days: [...train.days],
    at: `${two(train.hour)}:${two(train.minute)}`,
    timeZone: train.timeZone,
    windowSeconds: train.windowSeconds,
    concurrency: train.concurrency,
    order: [...train.order],
    departures: (d?.info.nextActionTimes ?? []).slice(0, DEPARTURES_SHOWN).map((t) => ({
      at: t.toISOString(),
      local: formatInZone(t.getTime(), train.timeZone),
      utc: formatUtc(t.getTime()),
    })),
  };
}

/** One configured train and its schedule's state; NotFoundError when config has no such train. */
export async function describeTrain(client: Client, config: BatonConfig, id: string): Promise<TrainSchedule> {
  const train = trainOf(config, id);
  return view(train, await describeOrNull(client.schedule.getHandle(id)));
}

/** Every configured train, in config order, with the server's next departures. */
export async function listTrains(client: Client, config: BatonConfig): Promise<TrainSchedule[]> {
  return Promise.all(Object.values(config.trains).map((t) => describeTrain(client, config, trainScheduleId(t.environment))));
}

/** The handle of an existing train schedule; NotFoundError for any other id. */
async function existingTrain(client: Client, id: string): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  const handle = client.schedule.getHandle(id);
  const description = id.startsWith(trainScheduleId('')) ? await describeOrNull(handle) : null;
  if (!description) {
    const why = id.startsWith(trainScheduleId('')) ? ' (a worker creates it at start-up)' : '';
    throw new NotFoundError(`no release train schedule '${id}'${why}`);
  }
  return { handle, description };
}

/** Pauses a train: no departure runs until unpaused. The reason becomes the schedule's note (shown in the Temporal UI). */
export async function pauseTrain(client: Client, id: string, reason: string): Promise<void> {
  const { handle } = await existingTrain(client, id);
  // An empty note would read as "no pause" to the server.
  await handle.pause(reason.trim() || 'paused');
}

/** Resumes a paused train; the note becomes the reason given, or "unpaused". */
export async function unpauseTrain(client: Client, id: string, reason?: string): Promise<void> {
  const { handle } = await existingTrain(client, id);
  await handle.unpause(reason?.trim() || 'unpaused');
}

/**
 * An unscheduled departure, now. Overlap ALLOW_ALL: a manual trigger is never skipped because
 * a scheduled departure is still boarding. Refused (ConflictError) while the train is paused:
 * Temporal itself would run a trigger on a paused schedule, but a paused train is a freeze and
 * departs nothing.
 */
export async function triggerTrain(client: Client, id: string): Promise<void> {
  const { handle, description } = await existingTrain(client, id);
  if (description.state.paused) {
    const why = description.state.note ? `: ${description.state.note}` : '';
    throw new ConflictError(`${id} is paused${why}; unpause it before triggering a departure`);
  }
  await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
}
