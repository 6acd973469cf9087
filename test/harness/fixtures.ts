// Shared test data: the production train of the runbooks (Tuesdays 10:00 America/Los_Angeles),
// what a refused request must leave untouched in a release, and a DR posture (api prod, DR in us-west-2).
import { hashToken } from '../../src/config';
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

/** The tokens of the small front-door config (one person per built-in role). */
export const FRONT_DOOR_TOKENS = { admin: 'admin-token', deployer: 'deployer-token', viewer: 'viewer-token', approver: 'approver-token' };

/**
 * A small config (YAML shape) for tests of the API's front door: one person per built-in role,
 * one service `web` in `prod`, no worker needed; `extra` adds or replaces top-level fields.
 */
export function frontDoorConfigDoc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const T = FRONT_DOOR_TOKENS;
  return {
    people: [
      { name: 'ada', roles: ['admin'], tokenSha256: hashToken(T.admin), slackUserId: 'U0ADA' },
      { name: 'dan', roles: ['deployer'], tokenSha256: hashToken(T.deployer) },
      { name: 'val', roles: ['viewer'], tokenSha256: hashToken(T.viewer), slackUserId: 'U0VAL' },
      { name: 'abe', roles: ['approver'], tokenSha256: hashToken(T.approver) },
    ],
    environments: { prod: { plan: 'quick' } },
    plans: { quick: { steps: [{ shift: 50 }, { soak: '2m' }, { shift: 100 }] } },
    services: {
      web: {
        image: 'registry.example.com/web',
        environments: {
          prod: {
            region: 'us-east-1',
            ecs: { cluster: 'prod', blueService: 'web-blue', greenService: 'web-green' },
            traffic: { type: 'alb', listenerArn: 'arn:listener', blueTargetGroupArn: 'arn:blue', greenTargetGroupArn: 'arn:green' },
            metrics: { blueDimensions: { TargetGroup: 'blue' }, greenDimensions: { TargetGroup: 'green' } },
            smokeTestUrl: 'http://127.0.0.1:9/{colour}/healthz',
          },
        },
      },
    },
    ...extra,
  };
}
