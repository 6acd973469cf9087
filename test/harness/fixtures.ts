// Shared test data: the production train of the runbooks (Tuesdays 10:00 America/Los_Angeles),
// what a refused request must leave untouched in a release, and a DR posture (api prod, DR in us-west-2).
import type { DrSpec } from '../../src/domain/failover';
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

/** api prod's DR posture: us-east-1 with DR in us-west-2, pilot light (standby 0). */
export const DR_SPEC: Readonly<DrSpec> = {
  service: 'api',
  environment: 'prod',
  primaryRegion: 'us-east-1',
  region: 'us-west-2',
  compute: { region: 'us-west-2', cluster: 'api-prod', services: { blue: 'api-prod-blue', green: 'api-prod-green' } },
  productionCount: 2,
  standbyCount: 0,
  database: { primary: { region: 'us-east-1', instanceId: 'api-prod-db' }, replica: { region: 'us-west-2', instanceId: 'api-prod-db-replica' } },
  dns: { hostedZoneId: 'Z1', recordName: 'api.example.com.', recordType: 'CNAME', primarySetIdentifier: 'primary', secondarySetIdentifier: 'secondary' },
  smokeTestUrl: 'http://dr.example.com/healthz',
  objectives: { rpoSeconds: 30, rtoSeconds: 300 },
  primaryCompute: { region: 'us-east-1', cluster: 'api-prod', services: { blue: 'api-prod-blue', green: 'api-prod-green' } },
  primarySmokeTestUrls: { blue: 'http://blue.example.com/healthz', green: 'http://green.example.com/healthz' },
  approvals: [{ role: 'release-manager', count: 1 }],
  approvalExpirySeconds: 3600,
  monitor: { seconds: 60, everySeconds: 10 },
  metrics: null,
  primaryMetrics: { type: 'cloudwatch', region: 'us-east-1', namespace: 'Api', requests: { metricName: 'Requests', statistic: 'Sum' }, errors: { metricName: 'Errors', statistic: 'Sum' }, latency: { metricName: 'LatencyMs', statistic: 'Average', unit: 'milliseconds' }, extraErrors: [], dimensions: { blue: { Colour: 'blue' }, green: { Colour: 'green' } } },
  thresholds: { maxErrorRate: 0.01, maxLatencyMs: 500, minRequests: 10 },
  catchUpSeconds: 600,
  emergency: { role: 'on-call', allowUnfenced: false },
  drills: { allowed: true, everySeconds: null },
};
