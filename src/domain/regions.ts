// Where region-bound work runs. An activity that acts on AWS region R (ECS, the ALB or Route 53
// records of an environment in R, CloudWatch in R, an RDS instance in R, a smoke test of a
// service in R) runs on the task queue `<main>-<R>`, e.g. `baton-us-east-1`, which only workers
// configured for R poll. So work on a region goes to workers that can reach it, and when a
// region is down only its own queue stalls: a worker in another region still runs every
// workflow (they are on the main queue) and every activity of its own region.
//
// Workflows, and the activities that act on no region (other runs through Temporal, Slack, a
// database's ledger), stay on the main queue. Pure: workflows derive the queue from their own
// task queue (`workflowInfo().taskQueue`) and the region in their input, so it is deterministic.
import type { DatabaseTarget } from './database';

/** An AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-4`. */
export const REGION_PATTERN = '^[a-z]{2}(-[a-z]+)+-\\d$';
const REGION_RE = new RegExp(REGION_PATTERN);

export function isRegionName(name: string): boolean {
  return REGION_RE.test(name);
}

/** The task queue of the activities that act on `region`: `baton` and `us-east-1` → `baton-us-east-1`. */
export function regionQueue(mainQueue: string, region: string): string {
  return `${mainQueue}-${region}`;
}

/**
 * The task queue of the activities that act on a database: an RDS instance's region's queue;
 * the main queue for a self-managed PostgreSQL, whose backups and WAL archive are directories
 * on the worker's own disk, which no AWS region names.
 */
export function databaseQueue(mainQueue: string, target: DatabaseTarget): string {
  return target.kind === 'rds' ? regionQueue(mainQueue, target.region) : mainQueue;
}
