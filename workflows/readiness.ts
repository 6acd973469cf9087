/**
 * Disaster-recovery readiness (run by the Temporal Schedule `readiness`, every 15 minutes by
 * default): for every service environment with a DR posture, reads the DR region's ECS cluster
 * and services, the read replica and its ReplicaLag, and the Route 53 failover records, and
 * evaluates them into checks (src/domain/failover.ts). The reports go to the readiness registry
 * (workflows/readiness-registry.ts), which the API reads; a service whose failing checks changed
 * since its previous report is posted to Slack (a new failure, or passing again).
 *
 * Invariants: it changes nothing in AWS. Each read runs on the queue of the region it reads, so
 * a region that is down (or has no worker) fails only its own checks, after a bounded wait
 * (READ's schedule-to-close), and fails them closed. Slack never blocks the result: a post that
 * fails is logged and dropped; the report is recorded before anything is posted.
 */
import { ActivityFailure, log, proxyActivities, setCurrentDetails, TimeoutFailure, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { evaluateReadiness, readinessNotice, REPLICA_LAG_WINDOW_SECONDS, type DrSpec, type Read, type ReadinessFacts, type ReadinessReport } from '../src/domain/failover';
import { regionQueue } from '../src/domain/regions';
import type { ReadinessInput } from './messages';

/** A read gives up after 2 minutes in all, so a region with no worker fails its checks, never hangs the run. */
const READ: ActivityOptions = { startToCloseTimeout: '60s', scheduleToCloseTimeout: '2m', heartbeatTimeout: '20s', retry: { maximumAttempts: 3, initialInterval: '2s' } };
const reads = proxyActivities<Activities>(READ);
const main = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5, initialInterval: '1s' } });
const slack = proxyActivities<Activities>({ startToCloseTimeout: '10s', scheduleToCloseTimeout: '1m', retry: { maximumAttempts: 4, initialInterval: '1s' } });

/** The options of a read in `region`: on its queue, with a summary for the Temporal UI. */
function inRegion(region: string, summary: string): ActivityOptions & { summary: string } {
  return { ...READ, taskQueue: regionQueue(workflowInfo().taskQueue, region), summary };
}

/** An activity's failure in words: the cause's message (what AWS said), else the failure's. */
function why(err: unknown): string {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof TimeoutFailure) return `no answer in time from the ${err.activityType} activity (is a worker serving that region's queue?)`;
    return cause?.message ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

async function read<T>(fn: () => Promise<T>): Promise<Read<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: why(err) };
  }
}

/** The readiness checks of one service environment (also a failover's preflight). */
export async function checkOne(spec: DrSpec, at: string): Promise<ReadinessReport> {
  const { replica: db } = spec.database;
  const what = `${spec.service} ${spec.environment}`;
  const [compute, replica, lag, dns] = await Promise.all([
    read(() => reads.readDrCompute.executeWithOptions(inRegion(spec.region, `Read ${what}'s DR cluster ${spec.compute.cluster} in ${spec.region}`), [spec.compute])),
    read(() => reads.readReplica.executeWithOptions(inRegion(db.region, `Read ${what}'s replica ${db.instanceId} in ${db.region}`), [db])),
    read(() => reads.readReplicaLag.executeWithOptions(inRegion(db.region, `Read ReplicaLag of ${db.instanceId}`), [db, REPLICA_LAG_WINDOW_SECONDS, at])),
    // Route 53 is global: read it from the DR region, which is what must work in an outage.
    read(() => reads.readFailoverRecords.executeWithOptions(inRegion(spec.region, `Read ${what}'s failover records ${spec.dns.recordName}`), [spec.dns, spec.region])),
  ]);
  const facts: ReadinessFacts = { compute, replica, lag, dns };
  return evaluateReadiness(spec, facts, at);
}

export async function failoverReadiness(input: ReadinessInput): Promise<ReadinessReport[]> {
  const at = new Date(Date.now()).toISOString(); // workflow time: deterministic
  const previous = await main.latestReadiness();
  const reports = await Promise.all(input.specs.map((spec) => checkOne(spec, at)));
  setCurrentDetails(reports.map((r) => `- ${r.service} ${r.environment} (DR ${r.drRegion}): ${r.ok ? 'ready' : `failing ${r.failing.join(', ')}`}`).join('\n'));
  await main.recordReadiness(reports, workflowInfo().taskQueue);
  for (const report of reports) {
    const before = previous.find((p) => p.service === report.service && p.environment === report.environment) ?? null;
    const text = readinessNotice(report, before);
    if (text === null) continue;
    try {
      await slack.postMessage({ channel: input.notify.channel, text });
    } catch (err) {
      log.warn('readiness: could not post to Slack', { service: report.service, environment: report.environment, error: why(err) });
    }
  }
  return reports;
}
