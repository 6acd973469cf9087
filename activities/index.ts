// createActivities(deps) → the activity functions, grouped by concern: AWS (aws.ts), other
// Baton runs through Temporal (releases.ts), Slack (notify.ts), databases (databases.ts), disaster
// recovery (failover.ts). Only worker.ts builds real
// providers; tests pass real clients pointed at the local emulators.
import { awsActivities } from './aws';
import { databaseActivities } from './databases';
import type { ActivityDeps } from './deps';
import { failoverActivities } from './failover';
import { notifyActivities } from './notify';
import { releaseActivities } from './releases';

export type { ActivityDeps, ReleaseFinder } from './deps';
export type { PostMessageRequest } from './notify';

export function createActivities(deps: ActivityDeps) {
  return { ...awsActivities(deps), ...releaseActivities(deps), ...notifyActivities(deps), ...databaseActivities(deps), ...failoverActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
