// Restore drills as Temporal Schedules: one `drill-<database>-<environment>` per database
// environment whose config has `drill: {cron, timeZone}`, kept in step with config at worker
// start-up. Each run is a restore workflow in drill mode (workflows/restore.ts): it restores the
// newest point into a scratch copy, verifies it, never switches, cleans up and records how long
// it took in the database's ledger. Only schedules named by config are touched.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { drSpecs, type BatonConfig } from '../config';
import type { DatabaseSpec } from '../domain/restore';
import { BatonEnvironment, BatonKind, BatonService, BatonVersion, type FailoverInput, type RestoreInput } from '../../workflows/messages';
import { upsertSchedule } from './upsert-schedule';

export function drillScheduleId(database: string, environment: string): string {
  return `drill-${database}-${environment}`;
}

function drillInput(config: BatonConfig, spec: DatabaseSpec): RestoreInput {
  return {
    // Empty: each scheduled run takes its own workflow id (`drill:<database>:<environment>-<time>`).
    id: '',
    mode: 'drill',
    request: { environment: spec.environment, database: spec.database, target: { latest: true }, reason: 'scheduled restore drill', incidentAt: null, requestedBy: 'schedule' },
    spec,
    notify: config.notifications,
  };
}

/** Creates or updates every configured drill schedule (a paused one stays paused); answers the ids. */
export async function syncDrillSchedules(client: Client, config: BatonConfig): Promise<string[]> {
  const ids: string[] = [];
  for (const envs of Object.values(config.databases)) {
    for (const spec of Object.values(envs)) {
      if (!spec.drill) continue;
      const id = drillScheduleId(spec.database, spec.environment);
      const action = {
        type: 'startWorkflow' as const,
        workflowType: 'restore',
        workflowId: `drill:${spec.database}:${spec.environment}`,
        taskQueue: config.temporal.taskQueue,
        args: [drillInput(config, spec)],
        staticSummary: `Drill: restore ${spec.database} in ${spec.environment}`,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: BatonKind, value: 'restore' },
          { key: BatonService, value: spec.database },
          { key: BatonEnvironment, value: spec.environment },
          { key: BatonVersion, value: 'drill' },
        ]),
      };
      const scheduleSpec = { cronExpressions: [spec.drill.cron], timezone: spec.drill.timeZone };
      const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 };
      await upsertSchedule(client, id, { spec: scheduleSpec, action, policies }, { note: 'restore drill (config)' });
      ids.push(id);
    }
  }
  return ids;
}

// ---------------------------------------------------------------- DR drills

export function failoverDrillScheduleId(service: string, environment: string): string {
  return `failover-drill-${service}-${environment}`;
}

/**
 * One `failover-drill-<service>-<environment>` schedule per DR posture whose config has
 * `drills: {allowed: true, every}`: each run fails over to the DR region and back (mode drill,
 * workflows/failover.ts). Answers the ids.
 */
export async function syncFailoverDrillSchedules(client: Client, config: BatonConfig): Promise<string[]> {
  const ids: string[] = [];
  for (const spec of drSpecs(config)) {
    if (!spec.drills.allowed || spec.drills.everySeconds === null) continue;
    const id = failoverDrillScheduleId(spec.service, spec.environment);
    const input: FailoverInput = {
      // Empty: each scheduled run takes its own workflow id (`failover:<service>:<environment>:drill-<time>`).
      id: '',
      mode: 'drill',
      request: { service: spec.service, environment: spec.environment, fromRegion: spec.primaryRegion, toRegion: spec.region, reason: 'scheduled DR drill', requestedBy: 'schedule', detectedAt: null },
      spec,
      notify: config.notifications,
    };
    const action = {
      type: 'startWorkflow' as const,
      workflowType: 'failover',
      workflowId: `failover:${spec.service}:${spec.environment}:drill`,
      taskQueue: config.temporal.taskQueue,
      args: [input],
      staticSummary: `DR drill of ${spec.service} ${spec.environment}: ${spec.primaryRegion} → ${spec.region} and back`,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: BatonKind, value: 'failover' },
        { key: BatonService, value: spec.service },
        { key: BatonEnvironment, value: spec.environment },
        { key: BatonVersion, value: 'drill' },
      ]),
    };
    const scheduleSpec = { intervals: [{ every: spec.drills.everySeconds * 1000 }] };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 };
    await upsertSchedule(client, id, { spec: scheduleSpec, action, policies }, { note: 'DR drill (config)' });
    ids.push(id);
  }
  return ids;
}
