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
import { decidersOf } from '../domain/gates';
import type { Holder } from '../domain/policy';

export function drillScheduleId(database: string, environment: string): string {
  return `drill-${database}-${environment}`;
}

function drillInput(config: BatonConfig, spec: DatabaseSpec, decisionKey: string | null): RestoreInput {
  return {
    ...decidersFor(config, [...spec.approvals.map((r) => r.role), ...config.cancelRoles], decisionKey),
    // Empty: each scheduled run takes its own workflow id (`drill:<database>:<environment>-<time>`).
    id: '',
    mode: 'drill',
    request: { environment: spec.environment, database: spec.database, target: { latest: true }, reason: 'scheduled restore drill', incidentAt: null, requestedBy: 'schedule' },
    spec,
    notify: config.notifications,
  };
}

/** Creates or updates every configured drill schedule (a paused one stays paused); answers the ids. */
/**
 * What a scheduled run judges decisions by, as runs the API starts do: the people config names
 * now (fixed in the schedule until the worker next syncs it) and the API's public key (the
 * worker's BATON_DECISION_PUBLIC_KEY). Without a key, the run takes unsigned decisions, as runs
 * started before signing did.
 */
function decidersFor(config: BatonConfig, roles: string[], decisionKey: string | null): { people: Holder[]; cancelRoles: string[]; decisionKey: string | null } {
  return { people: decidersOf(config.people, roles, 'schedule'), cancelRoles: [...config.cancelRoles], decisionKey };
}

export async function syncDrillSchedules(client: Client, config: BatonConfig, decisionKey: string | null = null): Promise<string[]> {
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
        args: [drillInput(config, spec, decisionKey)],
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
export async function syncFailoverDrillSchedules(client: Client, config: BatonConfig, decisionKey: string | null = null): Promise<string[]> {
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
      ...decidersFor(config, [...spec.approvals.map((a) => a.role), spec.emergency.role, ...config.cancelRoles], decisionKey),
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
