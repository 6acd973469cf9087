// Shared test data: the production train of the runbooks (Tuesdays 10:00 America/Los_Angeles),
// and what a refused request must leave untouched in a release.
import type { TrainSpec } from '../../src/domain/release';
import type { ReleaseStatus } from '../../workflows/messages';

export const PROD_TRAIN: TrainSpec = {
  environment: 'prod',
  days: ['TUE'],
  hour: 10,
  minute: 0,
  timeZone: 'America/Los_Angeles',
  windowSeconds: 4 * 3600,
  concurrency: 2,
  order: ['api', 'web'],
  catchupWindowSeconds: 3600,
};

/** What a refused request must leave untouched in a release. (Pending words are left out: countdowns tick.) */
export function unchanged(s: ReleaseStatus) {
  return {
    phase: s.phase,
    outcome: s.outcome,
    reason: s.reason,
    environment: s.environment,
    checks: s.checks,
    stages: s.environments.map((e) => ({ environment: e.environment, state: e.gate?.state, approvals: e.gate?.approvals, deployment: e.deployment })),
    events: s.timeline.length,
  };
}
