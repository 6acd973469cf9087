// Disaster-recovery readiness as one Temporal Schedule, `readiness`, kept in step with config at
// worker start-up: every `readiness.every` (default 15 min) it runs the failoverReadiness
// workflow over every service environment with `dr` config (workflows/readiness.ts). With no
// `dr` config there is nothing to check, and an existing `readiness` schedule is deleted.
// Also what the API answers: the latest report of each configured service environment.
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { drSpecs, type BatonConfig } from '../config';
import type { ReadinessReport } from '../domain/failover';
import { BatonKind, READINESS_REGISTRY_ID, readinessQuery, type ReadinessInput } from '../../workflows/messages';
import { upsertSchedule } from './upsert-schedule';

export const READINESS_SCHEDULE_ID = 'readiness';

/** Creates or updates the readiness schedule (a paused one stays paused); deletes it when no service has `dr`. Answers whether it exists. */
export async function syncReadinessSchedule(client: Client, config: BatonConfig): Promise<boolean> {
  const handle = client.schedule.getHandle(READINESS_SCHEDULE_ID);
  const specs = drSpecs(config);
  if (specs.length === 0) {
    await handle.delete().catch((err: unknown) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
    return false;
  }
  const input: ReadinessInput = { specs, notify: config.notifications };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'failoverReadiness',
    // Each run takes its own id: `readiness-<scheduled time>`.
    workflowId: 'readiness',
    taskQueue: config.temporal.taskQueue,
    args: [input],
    staticSummary: `DR readiness of ${specs.map((s) => `${s.service} ${s.environment}`).join(', ')}`,
    workflowExecutionTimeout: '10m' as const,
    typedSearchAttributes: new TypedSearchAttributes([{ key: BatonKind, value: 'readiness' }]),
  };
  const spec = { intervals: [{ every: config.readiness.everySeconds * 1000 }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 60_000 };
  await upsertSchedule(client, READINESS_SCHEDULE_ID, { spec, action, policies }, { note: 'disaster-recovery readiness (config)', triggerImmediately: true });
  return true;
}

/** Runs the readiness schedule now (as if it were due). */
export async function triggerReadiness(client: Client): Promise<void> {
  await client.schedule.getHandle(READINESS_SCHEDULE_ID).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
}

export interface ReadinessEntry {
  service: string;
  environment: string;
  primaryRegion: string;
  drRegion: string;
  /** Null: not checked yet (the schedule has not run since this service got `dr` config). */
  report: ReadinessReport | null;
}

/** Each configured service environment with its latest report, in config order. */
export async function latestReadiness(client: Client, config: BatonConfig): Promise<ReadinessEntry[]> {
  const specs = drSpecs(config);
  if (specs.length === 0) return [];
  let reports: ReadinessReport[] = [];
  try {
    reports = (await client.workflow.getHandle(READINESS_REGISTRY_ID).query(readinessQuery)).reports;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return specs.map((s) => ({
    service: s.service,
    environment: s.environment,
    primaryRegion: s.primaryRegion,
    drRegion: s.region,
    report: reports.find((r) => r.service === s.service && r.environment === s.environment) ?? null,
  }));
}
